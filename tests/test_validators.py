"""ID numbers and phones as real rosters hold them."""
from datetime import date

import pytest

from app.core.validators import InvalidValue, mask_id_number, normalize_phone, parse_id_number


def test_published_vectors():
    ok = parse_id_number("11010519491231002X")
    assert ok.birth_date == date(1949, 12, 31) and ok.sex == "女" and ok.masked == "110105********002X"
    with pytest.raises(InvalidValue, match="校验位不对（最后一位应为 X）"):
        parse_id_number("110105194912310021")


def test_villager_born_before_the_county_code_existed_is_accepted():
    # 330522 (长兴县) dates from 1983; numbers were issued later with the code of that time.
    from stdnum.cn import ric

    number = "33052219400101123" + ric.calc_check_digit("330522194001011230")
    assert not ric.is_valid(number)  # the library's full check would reject this real person
    assert parse_id_number(number).birth_date == date(1940, 1, 1)
    assert parse_id_number(number).sex == "男"


@pytest.mark.parametrize("raw", ["11010519491231002x", " 11010519491231002X ", "１１０１０５１９４９１２３１００２Ｘ",
                                 "110105 19491231 002X"])
def test_typing_variants_are_normalised(raw):
    assert parse_id_number(raw).number == "11010519491231002X"


@pytest.mark.parametrize("raw, message", [
    (110105194912310020, "Excel 存成了数字"),
    (1.10105194912310e17, "Excel 存成了数字"),
    ("", "为空"),
    ("110105491231002", "15 位"),
    ("11010519491231002", "应为 18 位，这里是 17 位"),
    ("1101051949123100A2", "只能由数字组成"),
    ("110105194902300027", "出生日期 1949-02-30 不存在"),
    ("110105209901010018", "晚于今天"),
])
def test_bad_id_numbers_say_what_is_wrong(raw, message):
    from stdnum.cn import ric

    if isinstance(raw, str) and len(raw) == 18 and raw[:17].isdigit() and message != "只能由数字组成":
        raw = raw[:17] + ric.calc_check_digit(raw)
    with pytest.raises(InvalidValue, match=message):
        parse_id_number(raw, today=date(2026, 11, 27))


def test_masking():
    assert mask_id_number("330522198501011233") == "330522********1233"
    assert mask_id_number("") == ""


def test_phones():
    assert normalize_phone("138 0013 8000") == "13800138000"
    assert normalize_phone("+86 138-0013-8000") == "13800138000"
    assert normalize_phone("0572-6021234") == normalize_phone("05726021234") == "0572-6021234"
    assert normalize_phone("010 6552 9988") == "010-65529988"
    assert normalize_phone("") == ""
    with pytest.raises(InvalidValue, match="不是有效的手机号"):
        normalize_phone("1380013800")
    with pytest.raises(InvalidValue, match="不是电话号码"):
        normalize_phone("电话")
