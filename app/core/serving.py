"""How ``flask serve`` (waitress) is sized, and its queue reported once a minute.

A township has a few hundred accounts, of whom a few dozen may be saving at the same moment
(the morning's visits, a meeting's minutes). On SQLite the writes take turns anyway (BEGIN
IMMEDIATE), so more threads would only hold more connections while waiting; 12 threads keep
within the connection pool (5 + 10 overflow) and leave room for the short write a GET makes on
a connection of its own. Phones and office PCs keep connections open between pages, so up to
400 are accepted (idle ones closed after a minute), with a listen backlog of 512 for a burst.

Waitress logs "Task queue depth is N" for every request that has to wait for a thread; twenty
people saving at once made 20,000 such lines in six minutes. ``QueueReport`` folds them into
one line a minute at most, with how often requests waited and the longest queue.
"""
import logging
import threading
import time

import waitress

from . import warmup

WAITRESS = {
    "threads": 12,
    "connection_limit": 400,
    "backlog": 512,
    "channel_timeout": 60,
    "asyncore_use_poll": True,  # poll(): no limit of 1024 descriptors
    "ident": "villagegrid",
}
REPORT_EVERY = 60.0  # seconds


class QueueReport(logging.Filter):
    """A filter for waitress's queue logger: counts each "Task queue depth" record and lets one
    summary through per ``every`` seconds instead."""

    def __init__(self, threads, every=REPORT_EVERY, clock=time.monotonic):
        super().__init__()
        self.threads = threads
        self.every = every
        self.clock = clock
        self.lock = threading.Lock()
        self.since = None
        self.waits = 0
        self.deepest = 0

    def filter(self, record):
        try:
            depth = int(record.args[0]) if record.args else 0
        except (TypeError, ValueError, IndexError):
            return True  # not the message we fold
        now = self.clock()
        with self.lock:
            if self.since is None:
                self.since = now
            self.waits += 1
            self.deepest = max(self.deepest, depth)
            if now - self.since < self.every:
                return False
            seconds, waits, deepest = now - self.since, self.waits, self.deepest
            self.since, self.waits, self.deepest = now, 0, 0
        record.msg = "请求排队：过去 %d 秒内 %d 次有请求等待空闲线程，最多同时 %d 个在等（共 %d 个线程）"
        record.args = (round(seconds), waits, deepest, self.threads)
        return True


def report_queue_once_a_minute(threads=WAITRESS["threads"]):
    """Fold waitress's per-request queue warnings into one line a minute (idempotent)."""
    logger = logging.getLogger("waitress.queue")
    for f in logger.filters:
        if isinstance(f, QueueReport):
            return f
    report = QueueReport(threads)
    logger.addFilter(report)
    return report


def serve(app, host, port, **overrides):
    """Serve ``app`` with waitress, sized as above."""
    options = {**WAITRESS, **overrides}
    report_queue_once_a_minute(options["threads"])
    warmup.start(app)  # in the background: the server answers (/healthz too) while it runs
    waitress.serve(app, host=host, port=port, **options)
