"""The one-file release's start-up stub (scripts/dist/stub.c) and packer (scripts/dist/pack.py), on a
small program folder: unpacked once into the data folder and run from there, checked before it is
used, refused with a Chinese message when the file is damaged or the folder cannot be written."""
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "scripts" / "dist"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the stub reads /proc/self/exe")


def _pack_module():
    spec = importlib.util.spec_from_file_location("pack", DIST / "pack.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A release file: the stub with a folder holding a shell-script program, a data file and a link."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is needed to build the start-up stub (make system-dist)")
    work = tmp_path_factory.mktemp("stub")
    stub = work / "stub"
    build = subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(stub), str(DIST / "stub.c"),
                            "-Wl,-Bstatic", "-lz", "-Wl,-Bdynamic"], capture_output=True, text=True)
    if build.returncode != 0 and "zlib.h" in build.stderr:
        pytest.skip("zlib1g-dev is needed to build the start-up stub (make system-dist)")
    assert build.returncode == 0, build.stderr
    program = work / "program"
    (program / "_internal" / "lib").mkdir(parents=True)
    (program / "villagegrid").write_text('#!/bin/sh\ncat "$(dirname "$0")/_internal/data.txt"\n'
                                         'echo "file=$VG_RELEASE_FILE args=$*"\n')
    (program / "villagegrid").chmod(0o755)
    (program / "_internal" / "data.txt").write_text("数据 " * 50000)  # more than one read of the stream
    (program / "_internal" / "lib" / "libx.so.1").write_bytes(os.urandom(300_000))
    (program / "_internal" / "libx.so").symlink_to("lib/libx.so.1")
    out = work / "villagegrid"
    _pack_module().main(stub, program, "1.2.3", out)
    return out


def _run(path, data=None, *args, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "VG_INSTANCE_PATH"}
    if data is not None:
        env["VG_INSTANCE_PATH"] = str(data)
    return subprocess.run([str(path), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def _runtime_id(path):
    return Path(path).read_bytes()[-96 + 24:-8].rstrip(b"\0").decode()


def test_the_first_start_unpacks_into_the_data_folder_and_later_starts_run_it(release, tmp_path):
    data = tmp_path / "data"
    first = _run(release, data, "create-admin", "--name", "王 堃")
    assert first.returncode == 0, first.stderr
    assert "解压完成" in first.stderr
    assert first.stdout.startswith("数据 ") and f"file={release} args=create-admin --name 王 堃" in first.stdout
    build = data / "runtime" / _runtime_id(release)
    assert _runtime_id(release).startswith("1.2.3-") and (build / ".complete").is_file()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700 and stat.S_IMODE((data / "runtime").stat().st_mode) == 0o700
    assert os.access(build / "villagegrid", os.X_OK) and os.readlink(build / "_internal" / "libx.so") == "lib/libx.so.1"
    assert (build / "_internal" / "lib" / "libx.so.1").stat().st_size == 300_000
    assert [p.name for p in (data / "runtime").iterdir()] == [build.name]  # nothing temporary left
    again = _run(release, data, "version")
    assert again.returncode == 0 and again.stderr == "" and "args=version" in again.stdout


def test_the_data_folder_is_beside_the_file_by_default(release, tmp_path):
    copy = tmp_path / "opt" / "villagegrid"
    copy.parent.mkdir()
    shutil.copy2(release, copy)
    done = _run(copy, None, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "opt" / "villagegrid-data" / "runtime" / _runtime_id(release) / ".complete").is_file()


def test_a_damaged_file_is_refused_and_nothing_is_left(release, tmp_path):
    body = bytearray(release.read_bytes())
    body[len(body) // 2] ^= 0x01  # one bit in the packed program
    damaged = tmp_path / "damaged"
    damaged.write_bytes(bytes(body))
    damaged.chmod(0o755)
    done = _run(damaged, tmp_path / "data")
    assert done.returncode == 1 and "不完整或已损坏" in done.stderr and "重新复制" in done.stderr
    assert list((tmp_path / "data" / "runtime").iterdir()) == []
    cut = tmp_path / "cut"
    cut.write_bytes(bytes(body[: len(body) // 3]))
    cut.chmod(0o755)
    done = _run(cut, tmp_path / "data")
    assert done.returncode == 1 and "不完整或已损坏" in done.stderr


def test_a_data_folder_that_cannot_be_written_is_refused(release, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = _run(release, blocker / "villagegrid-data")
    assert done.returncode == 2
    assert "无法创建或写入" in done.stderr and "VG_INSTANCE_PATH" in done.stderr


def test_copies_starting_together_unpack_once(release, tmp_path):
    data = tmp_path / "data"
    env = dict(os.environ, VG_INSTANCE_PATH=str(data))
    starts = [subprocess.Popen([str(release), str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
              for n in range(4)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in starts]
    assert all(code == 0 and f"args={n}" in out for n, (out, _, code) in enumerate(results)), results
    assert [p.name for p in (data / "runtime").iterdir()] == [_runtime_id(release)]

