"""Rosters as villages keep them, made for the tests: a merged title row, a two-row header
(成员信息 over 姓名/与户主关系/性别/出生日期/身份证号码), the head's name only on the head's row,
members under it, blank rows between households, 所属组 such as 第5村民小组, notes at the end."""
import io

from openpyxl import Workbook
from stdnum.cn import ric

TITLE = "甲二村户籍花名册（2026年）"
TOP = ["序号", "户主", "成员信息", None, None, None, None, "所属组", "家庭住址", "联系电话", "备注"]
BOTTOM = [None, None, "姓名", "与户主关系", "性别", "出生日期", "身份证号码", None, None, None, None]


def number(birth="19600203", serial=1, region="330522", check=None):
    """A valid ID number (with check digit ``check`` when asked: the serial moves by tens until it fits, so
    its last digit, odd for men and even for women, stays)."""
    while True:
        body = f"{region}{birth}{serial % 1000:03d}"
        digit = ric.calc_check_digit(body + "0")
        if check is None or digit == check:
            return body + digit
        serial += 10


def person(name, relation, sex, birth, idn, head="", group="", address="", phone="", notes=""):
    """One row of the village layout (序号 is filled in by village_workbook)."""
    return [head, name, relation, sex, birth, idn, group, address, phone, notes]


def village_workbook(households, title=TITLE, notes=("合计：见上表", "制表人：李会计")):
    """An .xlsx in the village layout: ``households`` is a list of lists of person() rows; a blank row
    between households."""
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append([title])
    ws.merge_cells("A1:K1")
    ws.append(TOP)
    ws.merge_cells("C2:G2")
    ws.append(BOTTOM)
    for cell in ("A2:A3", "B2:B3", "H2:H3", "I2:I3", "J2:J3", "K2:K3"):
        ws.merge_cells(cell)
    n = 0
    for i, members in enumerate(households):
        if i:
            ws.append([])
        for row in members:
            n += 1
            ws.append([n] + list(row))
    ws.append([])
    for line in notes:
        ws.append([line])
    return wb


def to_bytes(wb):
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows, encoding="gb18030"):
    """A CSV (one header row) as Chinese Excel and WPS save it: GBK by default, CRLF."""
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode(encoding)
