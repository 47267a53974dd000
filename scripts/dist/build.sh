#!/usr/bin/env bash
# `make dist`: the one-file release dist/villagegrid-<version>-linux-x86_64 (a start-up stub with
# PyInstaller's one-folder build packed behind it, unpacked once into the data folder),
# built with the Python of .venv-dist and this machine's libraries and fonts (Debian bookworm:
# the file then needs glibc 2.36 or newer). build/ keeps the fonts and PyInstaller's analysis
# between runs, so a second build only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${DIST_VENV:-.venv-dist}
# Every runtime pin must be in the release's pins too (they are compiled from the same .in files).
missing=$(comm -23 <(grep -E '^[A-Za-z0-9_.-]+==' requirements.txt | cut -d' ' -f1 | sort) \
                   <(grep -E '^[A-Za-z0-9_.-]+==' requirements-dist.txt | cut -d' ' -f1 | sort))
[ -z "$missing" ] || { echo "requirements-dist.txt 缺少：$missing（请运行 make deps）" >&2; exit 1; }
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)
name="villagegrid-$version-linux-x86_64"
"$venv/bin/python" scripts/dist/make_fonts.py build/dist/fonts
# The program folder (PyInstaller one-folder) ...
VG_DIST_FONTS=$PWD/build/dist/fonts "$venv/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath build/dist/onedir --workpath build/pyinstaller scripts/dist/villagegrid.spec
# ... behind the start-up stub that unpacks it once into the data folder (zlib linked in: the
# stub needs nothing but the C library).
gcc -O2 -Wall -Wextra -Werror -s -o build/dist/stub scripts/dist/stub.c -Wl,-Bstatic -lz -Wl,-Bdynamic
mkdir -p dist
"$venv/bin/python" scripts/dist/pack.py build/dist/stub build/dist/onedir/villagegrid "$version" "dist/$name"
size=$(stat -c %s "dist/$name")
echo "dist/$name  $((size / 1024 / 1024)) MB"
