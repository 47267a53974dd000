"""Work done in the background once a serving process has started, so its first users do not wait
for it (the statistics' dashboard of the top grids: seconds at county size).

Areas register a warm-up with :func:`register`; :func:`start` runs them one after the other in a
daemon thread, once per process. Start-up and ``/healthz`` do not wait for it. ``flask serve`` and
the benchmark's server start it as they begin to serve; under gunicorn each worker starts it with
its first request (a fork must not inherit a thread). Never in tests or CLI commands, and not when
``STATS_WARMUP`` is off (``VG_STATS_WARMUP=0``).
"""
import logging
import threading
from time import monotonic

log = logging.getLogger(__name__)

_START_LOCK = threading.Lock()


def register(app, name, run):
    """``run(app)`` is called in the warm-up thread; it returns what it did (logged)."""
    app.extensions.setdefault("vg_warmups", {})[name] = run


def start(app):
    """The warm-up thread of this process (started once), or None when switched off or testing."""
    if not app.config.get("STATS_WARMUP") or app.testing:
        return None
    with _START_LOCK:
        thread = app.extensions.get("vg_warmup_thread")
        if thread is None:
            thread = app.extensions["vg_warmup_thread"] = threading.Thread(
                target=run_all, args=(app,), name="villagegrid-warmup", daemon=True)
            thread.start()
    return thread


def run_all(app):
    """Each registered warm-up in turn; one that fails is logged and the others still run."""
    for name, run in app.extensions.get("vg_warmups", {}).items():
        began = monotonic()
        try:
            done = run(app)
        except Exception:
            log.exception("warm-up %s failed", name)
            continue
        app.logger.info("预热完成：%s（%s，%.1f 秒）", name, done, monotonic() - began)


def start_with_first_request(app):
    """For gunicorn: start the warm-up in each worker with its first request (not waiting for it)."""

    def _start_once():
        if "vg_warmup_thread" not in app.extensions:
            start(app)

    app.before_request_funcs.setdefault(None, []).insert(0, _start_once)
