"""Pinyin initials of Chinese names, with surnames read as surnames (单 shan, 曾 zeng …)."""
from functools import lru_cache
from pathlib import Path

READINGS_FILE = Path(__file__).resolve().parents[2] / "data" / "surname-readings.txt"


@lru_cache(maxsize=1)
def surname_readings():
    """{surname: [syllables]}, compound surnames included."""
    out = {}
    for line in READINGS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            surname, reading = line.split("\t")
            out[surname] = reading.split()
    return out


@lru_cache(maxsize=16384)  # given names repeat: a roster asks about the same ones again and again
def _initials(text):
    # late import: start-up time (pypinyin's dictionaries cost every process about 57 MB and 0.5 CPU s;
    # only registering and searching by initials needs them)
    from pypinyin import Style, lazy_pinyin

    return "".join(p[0] for p in lazy_pinyin(text, style=Style.NORMAL, errors="ignore") if p)


def name_initials(name):
    """(initials with the surname reading, initials with the ordinary reading or '' when the same)."""
    name = (name or "").strip()
    if not name:
        return "", ""
    ordinary = _initials(name).lower()
    readings = surname_readings()
    for size in (2, 1):
        surname = name[:size]
        if len(name) > size and surname in readings:
            as_surname = ("".join(s[0] for s in readings[surname]) + _initials(name[size:])).lower()
            return as_surname, (ordinary if ordinary != as_surname else "")
    return ordinary, ""
