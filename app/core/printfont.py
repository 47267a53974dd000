"""The print font: Noto Sans CJK SC cut down to the characters Chinese documents use.

The system's Noto Sans CJK holds about 65,000 glyphs, and WeasyPrint keeps every
glyph's number when it embeds the subset a document uses, so each face it embeds
carries about 770 KB of empty glyph slots and takes tens of milliseconds to cut.
Here the Regular and Bold faces are cut once to GB 2312 (6,763 hanzi, the symbols
and punctuation it defines) plus ASCII, Latin-1 and the CJK punctuation blocks,
about 14,000 glyphs with the layout rules they need, and kept in
``instance/fonts``. Documents then embed a few hundred glyphs out of 14,000: a
month's work log goes from about 320 KB to about 120 KB and renders about a
quarter faster.

Characters outside that set (rare name characters such as 堃 or 玥) still print:
the print stylesheet names the system font next, and Pango takes any character
the print font lacks from it.

The one-file release carries both faces already cut (``$VG_PRINT_FONTS``, see
app/dist_main.py) and copies them into ``instance/fonts`` on its first start.
Otherwise the files are built the first time a document is printed (well under a second)
and rebuilt when the system font or the character set changes. Several worker
processes may build at once: each writes its own temporary file and renames it
into place.
"""
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import uharfbuzz
import uharfbuzz as hb

FAMILY = "VillageGrid Print"
SOURCE_FAMILY = "Noto Sans CJK SC"
WEIGHTS = {"regular": ("Regular", 400), "bold": ("Bold", 700)}
# Raise when the character set below changes: the fonts are rebuilt.
CHARSET_VERSION = 1
# A folder of faces already cut (the one-file release carries them): used instead of cutting.
PREBUILT_ENV = "VG_PRINT_FONTS"
FILE_NAME = re.compile(r"^villagegrid-print-(regular|bold)-[0-9a-f]{12}\.otf$")

log = logging.getLogger(__name__)
_lock = threading.Lock()
_built = {}  # font folder -> {weight key: file name} (empty when no print font can be made)


def charset():
    """The code points of the print font: GB 2312 and the blocks around it that documents use."""
    points = set()
    for first in range(0xA1, 0xF8):
        for second in range(0xA1, 0xFF):
            try:
                points.add(ord(bytes((first, second)).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    for low, high in ((0x20, 0x7E), (0xA0, 0x17F), (0x2000, 0x206F), (0x2100, 0x214F), (0x2150, 0x218F),
                      (0x2190, 0x21FF), (0x2460, 0x24FF), (0x2500, 0x257F), (0x25A0, 0x25FF), (0x2600, 0x26FF),
                      (0x3000, 0x303F), (0x3200, 0x32FF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF)):
        points.update(range(low, high + 1))
    return points


def _source(style):
    """(file, face index) of the system's Noto Sans CJK SC in ``style``, or None."""
    if not shutil.which("fc-match"):
        return None
    out = subprocess.run(["fc-match", "-f", "%{file}|%{index}|%{family}", f"{SOURCE_FAMILY}:style={style}"],
                         capture_output=True, text=True, check=False).stdout
    parts = out.split("|")
    if len(parts) != 3 or SOURCE_FAMILY not in parts[2].split(","):
        return None
    return parts[0], int(parts[1] or 0)


def _key(path, index):
    stat = os.stat(path)
    raw = f"{CHARSET_VERSION}|{path}|{index}|{stat.st_size}|{stat.st_mtime_ns}|{uharfbuzz.__version__}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _cut(path, index, points):
    """The subset font (OpenType bytes): glyphs renumbered, layout rules for the kept glyphs."""
    face = hb.Face(hb.Blob.from_file_path(path), index)
    wanted = hb.SubsetInput()
    unicodes = wanted.unicode_set
    for point in sorted(points):
        unicodes.add(point)
    return hb.subset(face, wanted).blob.data


def _write(folder, name, data):
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".otf")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, folder / name)


def prebuilt():
    """{weight key: file} of faces cut when the release was built (``$VG_PRINT_FONTS``), or {}."""
    where = os.environ.get(PREBUILT_ENV)
    if not where:
        return {}
    found = {}
    for path in Path(where).glob("villagegrid-print-*.otf"):
        match = FILE_NAME.match(path.name)
        if match:
            found[match.group(1)] = path
    return found if set(found) == set(WEIGHTS) else {}


def build(folder):
    """Make sure the print fonts exist in ``folder``; {weight key: file name}, or {} when impossible."""
    folder = Path(folder)
    names = {}
    points = None
    ready = prebuilt()
    try:
        for key, (style, _weight) in WEIGHTS.items():
            if ready:  # the release carries them already cut: copy them into the data folder once
                name = ready[key].name
                if not (folder / name).is_file():
                    folder.mkdir(parents=True, exist_ok=True)
                    _write(folder, name, ready[key].read_bytes())
                names[key] = name
                continue
            source = _source(style)
            if source is None:
                log.warning("打印字体：未找到系统字体 %s %s，PDF 将直接使用系统字体（文件较大、生成较慢）。", SOURCE_FAMILY, style)
                return {}
            name = f"villagegrid-print-{key}-{_key(*source)}.otf"
            if not (folder / name).is_file():
                folder.mkdir(parents=True, exist_ok=True)
                points = points or charset()
                _write(folder, name, _cut(*source, points))
                log.info("打印字体：已生成 %s", name)
            names[key] = name
    except Exception as exc:  # whatever went wrong, documents still print with the system font
        log.warning("打印字体无法生成（%s），PDF 将直接使用系统字体。", exc)
        return {}
    for old in folder.glob("villagegrid-print-*.otf"):
        if old.name not in names.values():
            old.unlink(missing_ok=True)
    return names


def fonts(folder):
    """The print font files for ``folder``, built on first use and then remembered by this process."""
    folder = str(folder)
    if folder not in _built:
        with _lock:
            if folder not in _built:
                _built[folder] = build(folder)
    return _built[folder]


def forget(folder=None):
    """Drop what this process remembers (after the files were removed, and in tests)."""
    with _lock:
        if folder is None:
            _built.clear()
        else:
            _built.pop(str(folder), None)


def font_face_css(folder, url_prefix):
    """``@font-face`` rules naming the print font files under ``url_prefix``; "" when there are none."""
    return "".join(
        f'@font-face {{ font-family: "{FAMILY}"; src: url("{url_prefix}{name}"); font-weight: {WEIGHTS[key][1]}; }}'
        for key, name in fonts(folder).items())
