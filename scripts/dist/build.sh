#!/usr/bin/env bash
# `make dist`: the one-file release dist/villagegrid-<version>-linux-x86_64 (PyInstaller one-file),
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
VG_DIST_NAME=$name VG_DIST_FONTS=$PWD/build/dist/fonts "$venv/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller scripts/dist/villagegrid.spec
size=$(stat -c %s "dist/$name")
echo "dist/$name  $((size / 1024 / 1024)) MB"
