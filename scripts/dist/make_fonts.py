"""The fonts the one-file release carries, made from the build machine's fonts.

    python scripts/dist/make_fonts.py OUT

- ``OUT/print``: the two print faces (Noto Sans CJK SC cut to GB 2312 and the blocks around it),
  cut by app/core/printfont.py exactly as a source install cuts them on first use;
- ``OUT/fallback``: what fontconfig sees: Noto Sans CJK SC Regular cut to the rest of CJK (the
  ideographs outside GB 2312, so a name like 王堃 still prints; bold is made by fontconfig's
  emboldening) and DejaVu Sans Mono for the monospaced figures.

Nothing is remade when OUT already holds the faces for the same sources (the names carry a hash).
"""
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core import printfont  # noqa: E402

# The ideograph blocks: unified (with extensions A to F), compatibility, radicals, strokes.
CJK_BLOCKS = ((0x2E80, 0x2FDF), (0x31C0, 0x31EF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
              (0x20000, 0x2A6DF), (0x2A700, 0x2EBEF), (0x2F800, 0x2FA1F))


def _file(pattern):
    out = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True, check=True).stdout
    return Path(out)


def main(out):
    out = Path(out)
    made = {}
    for key, (style, _weight) in printfont.WEIGHTS.items():
        source = printfont._source(style)
        if source is None:
            sys.exit(f"缺少 {printfont.SOURCE_FAMILY} {style}（apt-get install fonts-noto-cjk）")
        made[key] = (source, f"villagegrid-print-{key}-{printfont._key(*source)}.otf")
    print_dir, fallback_dir = out / "print", out / "fallback"
    if not all((print_dir / name).is_file() for _, name in made.values()):
        shutil.rmtree(print_dir, ignore_errors=True)
        print_dir.mkdir(parents=True)
        points = printfont.charset()
        for source, name in made.values():
            (print_dir / name).write_bytes(printfont._cut(*source, points))
            print(f"print face {name}")
    regular = made["regular"][0]
    fallback = fallback_dir / f"NotoSansCJKsc-rest-{printfont._key(*regular)}.otf"
    if not fallback.is_file():
        shutil.rmtree(fallback_dir, ignore_errors=True)
        fallback_dir.mkdir(parents=True)
        rest = {p for low, high in CJK_BLOCKS for p in range(low, high + 1)} - printfont.charset()
        rest |= set(range(0x20, 0x7F))
        fallback.write_bytes(printfont._cut(*regular, rest))
        mono = _file("DejaVu Sans Mono:style=Book")
        if mono.name != "DejaVuSansMono.ttf":
            sys.exit("缺少 DejaVu Sans Mono（apt-get install fonts-dejavu-core）")
        shutil.copy(mono, fallback_dir / mono.name)
        print(f"fallback faces {fallback.name}, {mono.name}")
    for folder in (print_dir, fallback_dir):
        for f in sorted(folder.iterdir()):
            print(f"  {f.relative_to(out)}  {f.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1])
