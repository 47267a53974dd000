"""Validation of what people type or paste: ID numbers (身份证号) and phone numbers.

Messages are Chinese and say what is wrong, for forms and spreadsheet imports.
"""
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import phonenumbers
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc

from .timeutil import local_today


class InvalidValue(ValueError):
    """A value that cannot be accepted; str() is the Chinese explanation."""


@dataclass(frozen=True)
class IdNumber:
    number: str       # 18 characters, upper-case X
    birth_date: date
    sex: str          # "男" / "女"

    @property
    def masked(self):
        return mask_id_number(self.number)


def _excel_number(value):
    """Excel keeps 15 significant digits: an ID stored as a number has lost its tail."""
    if isinstance(value, float) or (isinstance(value, int) and len(str(value)) > 15):
        raise InvalidValue("身份证号被 Excel 存成了数字，后几位已丢失，无法恢复。请把该列设为“文本”后重新录入。")
    return str(value)


# An 18-digit number Excel shows (or a CSV saved) in scientific notation: 3.30522E+17.
_SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE]\+?\d{1,2}")


def normalize_id_number(value):
    """Full-width digits, a lower-case x and spaces are normalised; returns the compact text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = _excel_number(value)
    text = "".join(unicodedata.normalize("NFKC", value).split()).upper()
    if _SCIENTIFIC.fullmatch(text):
        _excel_number(float(text))
    return text


def parse_id_number(value, today=None):
    """Check an 18-digit resident ID number and read birth date and sex from it.

    The region code (first six digits) is not checked against the birth year:
    numbers were issued from the mid-1980s with the code of the place at that
    time, so a villager born in 1940 rightly carries a code created in 1983.
    python-stdnum's full validate() does that check, so only its checksum and
    birth-date parts are used here.
    """
    return _parse_id_number(normalize_id_number(value), today or local_today())


# Pure functions of their input, asked about the same numbers several times in a roster import.
@lru_cache(maxsize=16384)
def _parse_id_number(number, today):
    if not number:
        raise InvalidValue("身份证号为空。")
    if len(number) == 15 and number.isdigit():
        raise InvalidValue("这是旧的 15 位身份证号，请填写现行的 18 位号码。")
    if len(number) != 18:
        raise InvalidValue(f"身份证号应为 18 位，这里是 {len(number)} 位。")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidValue("身份证号只能由数字组成，最后一位可以是 X。")
    expected = ric.calc_check_digit(number)
    if number[17] != expected:
        raise InvalidValue(f"身份证号校验位不对（最后一位应为 {expected}），请核对是否有数字录错。")
    try:
        birth = ric.get_birth_date(number)
    except stdnum_errors.ValidationError:
        raise InvalidValue(f"身份证号中的出生日期 {number[6:10]}-{number[10:12]}-{number[12:14]} 不存在。") from None
    if birth > today:
        raise InvalidValue(f"身份证号中的出生日期 {birth.isoformat()} 晚于今天。")
    if birth.year < 1880:
        raise InvalidValue(f"身份证号中的出生年份 {birth.year} 不合理。")
    return IdNumber(number=number, birth_date=birth, sex="男" if int(number[16]) % 2 else "女")


def mask_id_number(number):
    """First 6 and last 4 characters shown, the rest hidden."""
    if not number:
        return ""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


# An 18-character ID number inside other text: not part of a longer run of digits.
# Full-width digits (typed with a Chinese input method) count as digits.
_D = "0-9\uff10-\uff19"
_ID_IN_TEXT = re.compile(rf"(?<![{_D}])([{_D}]{{6}})([{_D}]{{8}})([{_D}]{{3}}[{_D}XxＸｘ])(?![{_D}])")
ID_TEXT_MIN_LENGTH = 18


def _looks_like_id(birth, whole):
    """An 18-character run whose middle is a date of birth, unless it is a valid unified social
    credit code (统一社会信用代码, all digits now and then) that is no valid ID number."""
    birth = unicodedata.normalize("NFKC", birth)
    year, month, day = int(birth[:4]), int(birth[4:6]), int(birth[6:])
    if not (1880 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    whole = unicodedata.normalize("NFKC", whole).upper()
    if uscc.is_valid(whole):
        return ric.is_valid(whole) or whole[17] == ric.calc_check_digit(whole)
    return True


def _mask_match(m):
    if not _looks_like_id(m.group(2), m.group(0)):
        return m.group(0)
    return m.group(1) + "*" * 8 + m.group(3)[-4:]


def mask_ids_in_text(text):
    """Mask every ID number typed into free text (first 6 and last 4 characters stay).

    Any 18-character run whose middle reads as a date of birth is masked, with or without a
    correct check digit: a mistyped number still tells who it is."""
    if not text:
        return text or ""
    if len(text) < ID_TEXT_MIN_LENGTH:
        return text
    return _ID_IN_TEXT.sub(_mask_match, text)


_PHONE_MARKS = re.compile(r"[\s\-()（）]")


def unknown_mobile(text):
    """The 11 digits of a number shaped like a mobile (1 and ten digits, +86 allowed) or None."""
    digits = _PHONE_MARKS.sub("", unicodedata.normalize("NFKC", str(text or "")))
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits if len(digits) == 11 and digits.isdigit() and digits[0] == "1" else None


@lru_cache(maxsize=16384)
def normalize_phone(value, unknown_mobile_ok=False):
    """A Chinese mobile or fixed-line number in a stable form, or InvalidValue.

    With ``unknown_mobile_ok`` an 11-digit number starting with 1 that the numbering
    plan does not know (a new prefix) is kept as its digits: a roster import lists it
    as a warning instead of refusing the file (phone_warning says what to tell).
    """
    if value is None or not str(value).strip():
        return ""
    text = unicodedata.normalize("NFKC", str(value)).strip()
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise InvalidValue(f"“{text}”不是电话号码。") from None
    if not phonenumbers.is_valid_number(parsed):
        mobile = unknown_mobile(text)
        if mobile and unknown_mobile_ok:
            return mobile
        digits = _PHONE_MARKS.sub("", text)
        if mobile:
            raise InvalidValue(f"“{text}”不是已知号段的手机号。")
        if digits.isdigit() and digits.startswith("1"):
            raise InvalidValue(f"“{text}”不是有效的手机号或固定电话：手机号应为 11 位，这里是 {len(digits)} 位"
                               "（固定电话请带区号）。")
        raise InvalidValue(f"“{text}”不是有效的手机号或固定电话（固定电话请带区号）。")
    kind = phonenumbers.number_type(parsed)
    if parsed.country_code == 86 and kind == phonenumbers.PhoneNumberType.MOBILE:
        return str(parsed.national_number)
    national = "0" + str(parsed.national_number) if parsed.country_code == 86 else text
    area = phonenumbers.length_of_geographical_area_code(parsed)
    return f"{national[:area + 1]}-{national[area + 1:]}" if parsed.country_code == 86 and area else national


def phone_warning(value):
    """What to tell about a number imported although the numbering plan does not know it, or None."""
    if unknown_mobile(value) is None:
        return None
    try:
        normalize_phone(value)
    except InvalidValue:
        return (f"手机号“{unicodedata.normalize('NFKC', str(value)).strip()}”的号段不在已知号段内，已照填导入，"
                "请核对是否录错。")
    return None


@dataclass(frozen=True)
class DateWindow:
    """The dates a field may take: from ``earliest`` to today plus ``days_ahead`` (0: not in the future).

    One rule for every date a person types or a URL carries, so that year 1 or 9999 is refused
    with a message that states the window rather than stored (a deadline of 9999-12-31 is never
    overdue) or turned into a 500 by date arithmetic."""

    days_ahead: int
    earliest: date = date(2000, 1, 1)

    def bounds(self, today=None):
        today = today or local_today()
        return self.earliest, today + timedelta(days=self.days_ahead)

    def check(self, value, label="日期", today=None):
        """``value`` when inside the window, else InvalidValue naming the window."""
        low, high = self.bounds(today)
        if not low <= value <= high:
            span = f"{low.isoformat()} 至今天" if self.days_ahead == 0 else f"{low.isoformat()} 至 {high.isoformat()} "
            raise InvalidValue(f"{label}应在 {span}之间，这里是 {value.isoformat()}。")
        return value

    def parse(self, text, label="日期", today=None):
        """A YYYY-MM-DD text checked against the window; InvalidValue for anything else."""
        try:
            value = date.fromisoformat((text or "").strip())
        except ValueError:
            raise InvalidValue(f"{label}“{text}”不是有效的日期（年-月-日）。") from None
        return self.check(value, label, today)


# What already happened (a work log, a week check, a date something was done): 2000 … today.
PAST = DateWindow(days_ahead=0)
# What is planned (meetings, agreement periods, calendar entries): 2000 … two years ahead.
PLANNED = DateWindow(days_ahead=2 * 366)
# A deadline set for someone to act: 2000 … one year ahead.
DEADLINE = DateWindow(days_ahead=366)
# Dates in a household's history (moved out, category from/to): 1900 … one year ahead.
HISTORY = DateWindow(days_ahead=366, earliest=date(1900, 1, 1))
