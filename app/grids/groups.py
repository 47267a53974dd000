"""村民小组 names as villages write them: 第5村民小组 = 五组 = 5组 = 第五组 = 第五村民小组.

``group_key`` reduces a name to what identifies the group (its number, or its name
without the 组/小组/村民小组 ending), so a roster's 所属组 finds the village's grid
however either is spelt.
"""
import re
import unicodedata

DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
          "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100}
NUMERAL = "0-9" + "".join(DIGITS) + "".join(UNITS)
SUFFIX = r"(?:村民小组|村民组|居民小组|小组|组|队|生产队|社)"
NUMBERED = re.compile(rf"^(.*?)第?([{NUMERAL}]+){SUFFIX}?$")
NAMED = re.compile(rf"^(.+?){SUFFIX}$")


def cn_number(text):
    """The value of a number written in Arabic or Chinese digits (五 5, 十二 12, 二十 20, 一百零五 105,
    二〇 20 digit by digit), or None."""
    if not text:
        return None
    if text.isdigit():
        return int(text)
    if all(c in DIGITS for c in text):
        return int("".join(str(DIGITS[c]) for c in text))
    total, digit = 0, None
    for c in text:
        if c in "零〇○" and total:
            continue  # 一百零五: the zero only marks the empty tens
        if c in DIGITS:
            if digit is not None:
                return None
            digit = DIGITS[c]
        elif c in UNITS:
            total += (1 if digit is None else digit) * UNITS[c]
            digit = None
        else:
            return None
    return total + (digit or 0)


def key_text(key):
    """A group key as text (for storing a clerk's decision): "n:5", "name:东庄"."""
    return f"{key[0]}:{key[1]}"


def group_key(name, prefixes=()):
    """What identifies a group's name: ("n", number) or ("name", stem); a leading village or natural
    village name in ``prefixes`` is left out (甲村第5组 is 5组 of 甲村)."""
    text = "".join(unicodedata.normalize("NFKC", name or "").split())
    for prefix in sorted(prefixes, key=len, reverse=True):
        if prefix and text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix):]
            break
    m = NUMBERED.match(text)
    if m and (m.group(1) == "" or text.endswith(("组", "队", "社"))):
        number = cn_number(m.group(2))
        if number is not None:
            return ("n", number) if not m.group(1) else ("name", m.group(1) + str(number))
    m = NAMED.match(text)
    return ("name", m.group(1) if m else text)
