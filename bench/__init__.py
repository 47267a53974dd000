"""Benchmarks: `make bench` runs `python -m bench`; the last line printed is one JSON object."""
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env, log):
    """The benchmark's server (bench/server.py) on a free port, once it answers: (process, base URL)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.server", str(port)], env=env, cwd=ROOT,
                              stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/healthz").read()
            break
        except OSError:
            time.sleep(0.1)
    return server, base


def peak_rss_mb(pid):
    """A process's peak resident memory (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None
