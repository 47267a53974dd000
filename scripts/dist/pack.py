"""Make the one release file: the start-up stub, the program folder as one zlib stream, a trailer.

    pack.py <stub> <program folder> <version> <output>

The format is the one scripts/dist/stub.c reads. Entries, in the order a walk from the top
meets them (a folder before what it holds):

    type (d|f|l) | mode u32 | length of the path u32 | size u64 | path | bytes (file or link target)

then one entry of type "e". The trailer: offset u64 | size u64 | crc32 u32 | entries u32 |
id char[64] | b"VGRUN001". The id (the runtime folder's name) is the version and a hash of the
stream, so another build of the same version unpacks into a folder of its own.
"""
import hashlib
import os
import stat
import struct
import sys
import zlib
from pathlib import Path

MAGIC = b"VGRUN001"
TRAILER = struct.Struct("<QQII64s8s")


def entries(top):
    """(type, mode, relative path, bytes) for everything under ``top``, folders first."""
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        base = Path(folder)
        for name in sorted(dirs) + sorted(files):
            path = base / name
            rel = path.relative_to(top).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                yield b"l", 0o777, rel, os.readlink(path).encode()
            elif stat.S_ISDIR(info.st_mode):
                yield b"d", stat.S_IMODE(info.st_mode), rel, b""
            else:
                yield b"f", stat.S_IMODE(info.st_mode), rel, path.read_bytes()


def stream(top):
    """The compressed stream and the number of entries in it."""
    packer = zlib.compressobj(9)
    parts, count = [], 0
    for kind, mode, rel, data in entries(top):
        name = rel.encode()
        size = len(data)
        parts.append(packer.compress(kind + struct.pack("<IIQ", mode, len(name), size) + name))
        parts.append(packer.compress(data))
        count += 1
    parts.append(packer.compress(b"e" + struct.pack("<IIQ", 0, 0, 0)))
    parts.append(packer.flush())
    return b"".join(parts), count


def main(stub, top, version, output):
    body, count = stream(Path(top))
    runtime_id = f"{version}-{hashlib.sha256(body).hexdigest()[:12]}".encode()
    if len(runtime_id) > 64 or b"/" in runtime_id:
        raise SystemExit(f"version {version!r} cannot name a folder of at most 51 characters")
    head = Path(stub).read_bytes()
    trailer = TRAILER.pack(len(head), len(body), zlib.crc32(body), count, runtime_id, MAGIC)
    tmp = Path(f"{output}.part")
    with open(tmp, "wb") as fh:
        fh.write(head)
        fh.write(body)
        fh.write(trailer)
    tmp.chmod(0o755)
    os.replace(tmp, output)
    print(f"{output}: {count} files, runtime {runtime_id.decode()}")


if __name__ == "__main__":
    main(*sys.argv[1:])
