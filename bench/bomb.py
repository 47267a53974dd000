"""Decompression bombs at the anonymous intake: the server's memory afterwards.

Three residents without an account post a report at once to a grid's public intake
(`/q/<code>`), each with six 7000×7000 PNGs of about 6 KB (1-bit, all zero: 49 million
pixels each). A fresh server (`bench/server.py`, waitress as `flask serve`) is started
for it, so `bomb_peak_rss_mb` — its peak resident memory (VmHWM) after the three
requests — is what the bombs cost on top of a server that has only answered the intake
page. Run alone with ``python -m bench.bomb`` (a small database of its own).
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from http.cookiejar import CookieJar
from pathlib import Path

from bench import ROOT, peak_rss_mb, start_server

SIDE = 7000
PER_REQUEST = 6
REQUESTS = 3


def bomb_png(width, height):
    """A valid 1-bit greyscale PNG of ``width``×``height`` zero pixels, compressed as far as
    zlib goes (7000×7000 is about 6 KB, 20000×20000 about 48 KB); made row by row, so making
    it costs no more memory than the file."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the row's bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def multipart(fields, files):
    """A multipart/form-data body: (content type, bytes)."""
    boundary = uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                   f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(out)


def intake_code(env, grid_id):
    """The public code of a grid (an HMAC under the instance's secret key)."""
    script = f"""
from app import create_app
from app.core.public import grid_public_code
app = create_app({{"CHECK_PRINT_STACK": False}})
with app.app_context():
    print(grid_public_code({grid_id}))
"""
    return subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]


def bomb_figures(env, grid_id, log_path):
    """Start a fresh server on the database of ``env``, send the bombs, return the figures."""
    code = intake_code(env, grid_id)
    bomb = bomb_png(SIDE, SIDE)
    with open(log_path, "w") as log:
        server, base = start_server(env, log)
        try:
            residents = []
            for _ in range(REQUESTS):  # each with its own session and form token, as phones would be
                opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
                html = opener.open(f"{base}/q/{code}").read().decode()
                token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
                residents.append((opener, token))
            before = peak_rss_mb(server.pid)
            statuses, seconds = [], []

            def post(opener, token):
                ctype, body = multipart({"csrf_token": token, "what": "路灯坏了", "where": "村口",
                                         "reporter_phone": "13912345678"},
                                        [("photos", f"{i}.png", bomb) for i in range(PER_REQUEST)])
                req = urllib.request.Request(f"{base}/q/{code}", data=body, headers={"Content-Type": ctype})
                t0 = time.perf_counter()
                try:
                    with opener.open(req) as resp:
                        resp.read()
                        statuses.append(resp.status)
                except urllib.error.HTTPError as exc:
                    exc.read()
                    statuses.append(exc.code)
                seconds.append(time.perf_counter() - t0)

            threads = [threading.Thread(target=post, args=r) for r in residents]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            peak = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(10)
    return {"bomb_peak_rss_mb": peak, "bomb_rss_before_mb": before, "bomb_statuses": sorted(statuses),
            "bomb_request_s": round(max(seconds), 2), "bomb_png_kb": round(len(bomb) / 1024, 1)}


def _small_database(env):
    """Schema, one village with a house cluster, set up (for running this file alone)."""
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    script = """
from app import create_app
from app.core.models import Setting
from app.extensions import db
from app.grids import service as gs
app = create_app({"CHECK_PRINT_STACK": False})
with app.app_context():
    gs.ensure_reference_data()
    general = gs.kind_by_key("general")
    village = gs.create_grid(None, "测试村", gs.level_by_key("village"), general, "330522101201")
    cluster = gs.create_grid(village, "一组", gs.level_by_key("cluster"), general)
    Setting.put("org_name", "测试村")
    Setting.put("setup_done", "1")
    db.session.commit()
    print(cluster.id)
"""
    return int(subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout.strip().splitlines()[-1])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, VG_INSTANCE_PATH=tmp, DATABASE_URL=f"sqlite:///{tmp}/bomb.db", PYTHONPATH=str(ROOT))
        grid_id = _small_database(env)
        figures = bomb_figures(env, grid_id, Path(tmp) / "server.log")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
