"""Reading the tables people keep in spreadsheets, as they keep them.

A village's own file is read as it is: .xlsx, old .xls (xlrd) or .csv in UTF-8 or
GBK/GB18030; title rows above the header are skipped; the header is found by the
column names it holds, and a two-row header (a merged parent such as 成员信息 over
姓名/身份证号码 …) is combined; blank rows are ignored, and so are notes and 合计/总计
rows. Columns are recognised by their names and synonyms (a ``Field`` each); what is
not recognised, or could be two things, is left for the clerk to map. Invisible
characters (zero-width spaces, NBSP, a leading apostrophe, control characters) are
removed from every cell. No area knowledge here: the ledger and the unit register
describe their fields and read the rows.
"""
import csv
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar
from urllib.parse import quote

import xlrd
from defusedxml import DefusedXmlException
from flask import current_app, has_app_context, make_response
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from .errors import ServiceError
from .validators import mask_ids_in_text

HEADER_SCAN = 30           # rows looked at for the header
EXTENSIONS = (".xlsx", ".xls", ".csv")
ERROR_HEADER = "错误说明"
ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")
ERROR_FONT = Font(color="9C0006")
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
INVISIBLE.update({c: None for c in range(0x20) if c not in (9, 10, 13)})
INVISIBLE.update({0x7f: None, 0x00a0: " ", 0x3000: " ", 9: " ", 10: " ", 13: " "})
HEADER_NOISE = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]|[*＊:：\s]")
NOTE_START = re.compile(r"^(合计|总计|小计|共计|注[:：]|注意|说明|备注[:：]|制表|填表|审核|负责人|联系人[:：])")


# Cells

def clean(value):
    """A cell without what nobody meant to type: zero-width characters, NBSP and ideographic
    spaces, control characters, a leading apostrophe (Excel's "text" mark), outer spaces."""
    if not isinstance(value, str):
        return value
    text = value.translate(INVISIBLE).strip()
    if text.startswith("'"):
        text = text[1:].strip()
    return text


def cell_text(value):
    """A cell as text: numbers without a trailing .0, dates as YYYY-MM-DD, whitespace trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    return clean(value) if isinstance(value, str) else unicodedata.normalize("NFKC", str(value)).strip()


def is_blank(values):
    """Whether every cell of a row is empty."""
    return all(v is None or (isinstance(v, str) and not clean(v)) for v in values)


HOSTILE_XML = ("文件中含有 Excel 和 WPS 从不写入的 XML 实体定义（可能是特意构造的“实体炸弹”），已拒绝，文件没有保存。"
               "请用 Excel 或 WPS 打开后“另存为 Excel 工作簿（.xlsx）”再上传。")


def _unreadable(exc):
    # openpyxl parses through defusedxml (a requirement): entity definitions are refused, not expanded.
    cause = exc
    while cause is not None:  # openpyxl wraps what went wrong in a ValueError of its own
        if isinstance(cause, DefusedXmlException):
            return ServiceError(HOSTILE_XML)
        cause = cause.__cause__ or cause.__context__
    return ServiceError(f"文件无法作为 Excel 工作簿（.xlsx）打开：{type(exc).__name__}。"
                        "请用 Excel 或 WPS 打开后“另存为 Excel 工作簿（.xlsx）”再上传。")


def open_workbook(fileobj):
    """Open an uploaded .xlsx read-only, or raise ServiceError saying why it cannot be read."""
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles or extensions it drops; they do not matter for reading.
            warnings.simplefilter("ignore")
            return load_workbook(fileobj, read_only=True, data_only=True)
    except Exception as exc:  # any failure to parse user input is the same answer to the user
        raise _unreadable(exc) from None


def max_rows():
    """The configured cap on rows of data in one file (IMPORT_MAX_ROWS)."""
    return int(current_app.config["IMPORT_MAX_ROWS"]) if has_app_context() else 20_000


def _capped(rows, limit):
    """The rows, stopping with a Chinese message once more than ``limit`` hold anything (title and
    header rows allowed for), or the file runs to ten times that many rows counting empty ones."""
    out, filled = [], 0
    for row in rows:
        out.append(row)
        if any(v is not None and v != "" for v in row):
            filled += 1
        if filled > limit + HEADER_SCAN or len(out) > 10 * limit + HEADER_SCAN:
            raise ServiceError(_too_many(limit))
    return out


def _too_many(limit):
    return f"文件的行数超过了一次导入的上限（{limit} 行数据），没有导入。请把名册按村或网格分成几个文件，分别导入。"


# Reading files

def extension(filename):
    name = (filename or "").lower()
    return next((ext for ext in EXTENSIONS if name.endswith(ext)), None)


def _xlsx_sheets(data):
    wb = open_workbook(io.BytesIO(data))
    try:
        for ws in wb.worksheets:
            # read-only rows skip nothing: empty rows come as empty tuples, so enumerate gives row numbers
            ws.reset_dimensions()  # some writers declare a wrong size; read what is there
            try:
                rows = _capped((tuple(clean(v) for v in row) for row in ws.iter_rows(values_only=True)), max_rows())
            except ServiceError:
                raise
            except Exception as exc:  # a sheet that cannot be parsed: the same answer as a workbook
                raise _unreadable(exc) from None
            yield ws.title, rows
    finally:
        wb.close()


def _xls_sheets(data):
    try:
        book = xlrd.open_workbook(file_contents=data)
    except Exception as exc:  # any failure to parse user input is the same answer to the user
        raise ServiceError(f"文件无法作为旧版 Excel 工作簿（.xls）打开：{type(exc).__name__}。"
                           "请用 Excel 或 WPS 打开后“另存为 Excel 工作簿（.xlsx）”再上传。") from None

    def value(cell):
        if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
            return None
        if cell.ctype == xlrd.XL_CELL_DATE:
            try:
                return xlrd.xldate_as_datetime(cell.value, book.datemode)
            except (ValueError, OverflowError):
                return cell.value
        return clean(cell.value)

    for sheet in book.sheets():
        yield sheet.name, _capped((tuple(value(c) for c in sheet.row(r)) for r in range(sheet.nrows)), max_rows())


def decode_text(data):
    """CSV bytes as text: UTF-8 (with or without BOM), else GB18030 (GBK, what Chinese Excel and WPS save)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ServiceError("CSV 文件的编码无法识别（应为 UTF-8 或 GBK）。请用 Excel 或 WPS 另存为 .xlsx 再上传。")


def _csv_sheets(data):
    text = decode_text(data)
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;，")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield "CSV", _capped((tuple(clean(v) or None for v in row) for row in rows), max_rows())
    except csv.Error as exc:
        raise ServiceError(f"CSV 文件无法读取（{exc}）。请用 Excel 或 WPS 另存为 .xlsx 再上传。") from None


def raw_sheets(data, filename):
    """[(sheet name, rows)] of a file; each row a tuple of cleaned cell values, row N at index N-1."""
    kind = extension(filename)
    if kind == ".xlsx":
        return list(_xlsx_sheets(data))
    if kind == ".xls":
        if data[:2] == b"PK":  # an .xlsx renamed .xls
            return list(_xlsx_sheets(data))
        return list(_xls_sheets(data))
    if kind == ".csv":
        return list(_csv_sheets(data))
    raise ServiceError(f"只能上传 Excel（.xlsx、.xls）或 CSV 文件，“{filename}”不是。")


# Fields and columns

def header_key(text):
    """A header as compared: full-width folded, notes in brackets, stars, colons and spaces removed."""
    return HEADER_NOISE.sub("", unicodedata.normalize("NFKC", cell_text(text))).lower()


@dataclass(frozen=True)
class Field:
    """One thing a table may hold: its key, the name shown to the clerk, the names it goes by."""

    key: str
    label: str
    names: tuple = ()
    required: bool = False

    @property
    def keys(self):
        return {header_key(n) for n in (self.label, *self.names)}


@dataclass
class Column:
    index: int
    header: str           # the clerk's header, as shown above the data (the child of a two-row header)
    parent: str = ""      # the merged parent over it, if any
    samples: list = field(default_factory=list)  # the first few values, ID numbers masked

    @property
    def letter(self):
        return get_column_letter(self.index + 1)

    @property
    def title(self):
        return f"{self.parent} › {self.header}" if self.parent and self.header and self.parent != self.header \
            else (self.header or self.parent or f"第 {self.letter} 列")


PARENT_NOISE = re.compile(r"(基本)?(信息|情况)$")


def _candidates(column):
    """The texts a column may be known by, most specific first."""
    parent = PARENT_NOISE.sub("", header_key(column.parent))
    child = header_key(column.header)
    out = []
    if parent and child and parent != child:
        out.append(parent + child)
    if child:
        out.append(child)
    elif parent:
        out.append(parent)
    return out


def _recognise(column, fields):
    """(field key, quality) for a column from its names: 3 exact (the parent and the child together,
    then the child), 1 a known name inside the header (the longest wins), else (None, 0)."""
    texts = _candidates(column)
    for text in texts:
        for f in fields:
            if text in f.keys:
                return f.key, 3
    best, size, tie = None, 0, False
    for text in texts[-1:]:
        for f in fields:
            for k in f.keys:
                if len(k) >= 2 and k in text:
                    if len(k) > size:
                        best, size, tie = f.key, len(k), False
                    elif len(k) == size and f.key != best:
                        tie = True
    return (None, 0) if best is None or tie else (best, 1)


@dataclass
class Mapping:
    """Which column holds which field: {field key: column index}, and what is left to decide."""

    columns: dict = field(default_factory=dict)      # field key -> column index
    by_column: dict = field(default_factory=dict)    # column index -> field key ("" ignored)
    ambiguous: dict = field(default_factory=dict)    # field key -> [column indexes]
    source: dict = field(default_factory=dict)       # column index -> "chosen" / "remembered" / "recognised"

    def missing(self, fields):
        return [f for f in fields if f.required and f.key not in self.columns]


def map_columns(columns, fields, chosen=None, remembered=None):
    """Assign fields to columns: the clerk's choice for this file ({column index: key or ""}),
    then a remembered mapping ({header key: key or ""}), then recognition by name. Two columns
    that would be the same field equally well are both left for the clerk (``ambiguous``)."""
    chosen = chosen or {}
    remembered = remembered or {}
    valid = {f.key for f in fields}
    picks = {}   # column index -> (key, quality, source)
    for col in columns:
        if col.index in chosen:
            key = chosen[col.index]
            picks[col.index] = (key if key in valid else "", 9, "chosen")
            continue
        name = header_key(col.title)
        if name in remembered and remembered[name] in valid | {""}:
            picks[col.index] = (remembered[name], 5, "remembered")
            continue
        key, quality = _recognise(col, fields)
        picks[col.index] = (key or "", quality, "recognised")
    mapping = Mapping()
    by_key = {}
    for index, (key, quality, source) in picks.items():
        mapping.by_column[index] = ""
        mapping.source[index] = source
        if key:
            by_key.setdefault(key, []).append((quality, index))
    for key, found in by_key.items():
        found.sort(reverse=True)
        best = [i for q, i in found if q == found[0][0]]
        if len(best) > 1:
            mapping.ambiguous[key] = sorted(best)
            continue
        mapping.columns[key] = best[0]
        mapping.by_column[best[0]] = key
    return mapping


# The table

@dataclass
class Table:
    """A sheet read as a table: its header, its columns and its data rows with the sheet's row numbers."""

    filename: str
    sheet: str
    rows: list                 # every row of the sheet, row N at index N-1
    header_first: int = 0      # sheet row numbers of the header (0: none found)
    header_last: int = 0
    columns: list = field(default_factory=list)

    def data_rows(self, limit=None):
        """(row number, values) of the rows under the header that hold anything, notes and totals left out."""
        out = []
        for n in range(self.header_last + 1, len(self.rows) + 1):
            values = self.rows[n - 1]
            first = next((v for v in values if v is not None and v != ""), None)
            if first is None:
                continue
            if isinstance(first, str) and NOTE_START.match(first) and sum(v not in (None, "") for v in values) <= 3:
                continue
            out.append((n, values))
            if limit is not None and len(out) >= limit:
                return out
        # Trailing notes: lines of one filled cell after the last real row (制表人：…, a remark).
        while out and self._note(out[-1][1]):
            out.pop()
        if len(out) > max_rows():
            raise ServiceError(_too_many(max_rows()))
        return out

    def _note(self, values):
        filled = [cell_text(v) for v in values if v not in (None, "")]
        return len(filled) == 1 and len(self.columns) > 2 and (
            ":" in filled[0] or "：" in filled[0] or (len(filled[0]) >= 10 and not filled[0].isdigit()))

    def value(self, values, index):
        return values[index] if index is not None and index < len(values) else None


def _row_texts(row, width):
    return [cell_text(row[i]) if i < len(row) else "" for i in range(width)]


def _combine(top, bottom):
    """Columns of a two-row header: a parent over the cells to its right where the top row is empty
    (a merged cell) and the bottom row names a child; a parent alone where the bottom is empty."""
    columns, carry = [], ""
    for i, (parent, child) in enumerate(zip(top, bottom)):
        if parent:
            carry = parent
        elif not child:
            carry = ""
        if child:
            columns.append(Column(i, child, parent or carry))
        else:
            columns.append(Column(i, parent))
    return columns


def _single(texts):
    return [Column(i, t) for i, t in enumerate(texts)]


def _score(columns, fields):
    found = {}
    for c in columns:
        if c.header or c.parent:
            key, quality = _recognise(c, fields)
            if key:
                found[key] = max(found.get(key, 0), quality)
    return len(found), sum(found.values())


def locate(sheet_name, rows, fields, filename=""):
    """The table in a sheet's rows: the header row (or two) that names the most fields."""
    width = max((len(r) for r in rows[:HEADER_SCAN + 1]), default=0)
    best = None   # ((score, -height), columns, first, last): on equal scores the shorter header wins
    for r in range(min(HEADER_SCAN, len(rows))):
        top = _row_texts(rows[r], width)
        if not any(top):
            continue
        options = [(_single(top), r + 1)]
        if r + 1 < len(rows):
            options.append((_combine(top, _row_texts(rows[r + 1], width)), r + 2))
        for columns, last in options:
            rank = (_score(columns, fields), r + 1 - last)
            if best is None or rank > best[0]:
                best = (rank, columns, r + 1, last)
    table = Table(filename, sheet_name, rows)
    if best is None or best[0][0][0] < 2:
        return table
    _, columns, table.header_first, table.header_last = best
    table.columns = [c for c in columns if c.header or c.parent or _has_data(rows, table.header_last, c.index)]
    data = table.data_rows(limit=50)
    for c in table.columns:
        c.samples = _samples(data, c.index)
    return table


def _has_data(rows, header_last, index):
    return any(index < len(r) and r[index] not in (None, "") for r in rows[header_last:header_last + 50])


def _samples(data, index, n=3):
    out = []
    for _, r in data:
        if index < len(r) and r[index] not in (None, ""):
            out.append(mask_ids_in_text(cell_text(r[index]))[:30])
            if len(out) == n:
                break
    return out


def read_table(data, filename, fields):
    """The best table among a file's sheets (the one whose header names the most fields)."""
    best = None
    for name, rows in raw_sheets(data, filename):
        table = locate(name, rows, fields, filename)
        score = _score(table.columns, fields) if table.columns else (0, 0)
        if best is None or score > best[0]:
            best = (score, table)
    if best is None:
        raise ServiceError(f"“{filename}”里没有工作表。")
    return best[1]


# Problems

@dataclass
class ImportPlan:
    """What an import found: errors and warnings named by the clerk's own row and column header, and the
    cells to mark in the clerk's file. Subclasses name their fields' labels (``labels``)."""

    labels: ClassVar[dict] = {}
    rows: int = 0
    errors: list = field(default_factory=list)     # [(row number in the sheet, column header, message)]
    warnings: list = field(default_factory=list)   # the same, for what is imported but worth a look
    marks: dict = field(default_factory=dict)      # {row: [(column index or None, message)]} for the marked file
    table: object = None                           # the Table read
    mapping: object = None                         # the Mapping used
    village: object = None                         # the grid the file is for, if any

    def column(self, key):
        """(header as the file writes it, column index) of a field, or (its label, None)."""
        index = self.mapping.columns.get(key) if self.mapping else None
        col = next((c for c in self.table.columns if c.index == index), None) if index is not None else None
        if col is not None:
            return col.header or col.title, index
        return self.labels.get(key, key), None

    def error(self, row, key, message):
        header, index = self.column(key)
        self.errors.append((row, header, message))
        self.marks.setdefault(row, []).append((index, message))

    def header_error(self, message):
        """A problem of the file as a whole, on its header row (and in the marked file's 错误说明 there)."""
        row = self.table.header_last or 1 if self.table is not None else 1
        self.errors.append((row, "表头", message))
        self.marks.setdefault(row, []).append((None, message))

    def warn(self, row, key, message):
        header, _ = self.column(key)
        self.warnings.append((row, header, message))
        self.marks.setdefault(row, []).append((None, "提醒：" + message))

    def warn_formulas(self, row, values):
        """A warning for each imported cell a spreadsheet would read as a formula (=…, +…, -…, @…):
        it is imported and exported as the text it is, but was probably not meant so."""
        for key, index in (self.mapping.columns.items() if self.mapping else ()):
            value = values[index] if index < len(values) else None
            if _formula_like_text(value):
                shown = mask_ids_in_text(value)
                shown = shown if len(shown) <= 30 else shown[:30] + "…"
                self.warn(row, key, f"“{shown}”以“{value[0]}”开头，电子表格会把它当作公式。已按文字导入（导出时也是文字），"
                                    "请核对是否录错。")


def rows_text(rows):
    """第 3、5、9–12 行 for a list of row numbers."""
    rows = sorted(set(rows))
    parts, start = [], None
    for i, n in enumerate(rows):
        if start is None:
            start = n
        if i + 1 == len(rows) or rows[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}–{n}")
            start = None
    return "、".join(parts)


def error_groups(plan):
    """The errors with the same column and message together, in the order they first occur:
    [(column, message, rows)]."""
    groups = {}
    for row, column, message in plan.errors:
        groups.setdefault((column, message), []).append(row)
    return [(column, message, rows) for (column, message), rows in groups.items()]


# Writing cells
# Every cell the app writes goes through ``safe``/``write``/``text_cell``: a text that a spreadsheet
# would take for a formula (=HYPERLINK(…), +1, -A1, @SUM) is stored as text and shown as typed,
# never evaluated (it could fetch a URL with the ID number of the same row); characters an .xlsx
# cannot hold (NUL and other control characters a record may carry) are dropped instead of failing
# the whole download.

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula_like_text(value):
    """A cell read from a file that a spreadsheet would have evaluated: =…, @…, or +/- before a non-number
    (a phone number "+86 …" or a dash for "none" is not)."""
    if not isinstance(value, str) or not value:
        return False
    if value[0] in "=@":
        return len(value) > 1
    return value[0] in "+-" and len(value) > 1 and not (value[1].isdigit() or value[1] in " .(")


def looks_like_formula(value):
    """Whether a spreadsheet would read this text as a formula (or a command, in a CSV)."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def safe(value):
    """A value an .xlsx can hold: text without the control characters openpyxl refuses."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _as_text(cell):
    if isinstance(cell.value, str):
        cell.data_type = "s"  # openpyxl would make "=…" a formula
        if looks_like_formula(cell.value):
            cell.quotePrefix = True  # and Excel keeps it text when someone edits the cell
    return cell


def text_cell(ws, value, number_format=None):
    """A cell of a write-only sheet: text stays text (see above)."""
    cell = WriteOnlyCell(ws, value=safe(value))
    if number_format:
        cell.number_format = number_format
    return _as_text(cell)


def write(ws, row, column, value):
    """Set one cell of an ordinary sheet: text stays text (see above). Returns the cell."""
    cell = ws.cell(row, column)
    cell.value = safe(value)
    return _as_text(cell)


def append(ws, values):
    """Append a row of values to a sheet (write-only or not) through the safe writer."""
    if isinstance(ws, WriteOnlyWorksheet):
        ws.append([v if isinstance(v, Cell) else text_cell(ws, v) for v in values])
        return
    row = ws.max_row + 1 if ws.max_row > 1 or ws.cell(1, 1).value is not None else 1
    for i, v in enumerate(values, start=1):
        write(ws, row, i, v)


# The clerk's own file, marked

def _mark(ws, table, errors, first_col):
    """Add the 错误说明 column after ``first_col`` and colour the bad cells."""
    header_row = table.header_last or 1
    head = write(ws, header_row, first_col, ERROR_HEADER)
    head.font = Font(bold=True, color="9C0006")
    head.fill = ERROR_FILL
    ws.column_dimensions[get_column_letter(first_col)].width = 60
    for row, items in errors.items():
        note = write(ws, row, first_col, "；".join(dict.fromkeys(m for _, m in items)))
        note.font = ERROR_FONT
        for index, _ in items:
            if index is not None:
                cell = ws.cell(row, index + 1)
                cell.fill = ERROR_FILL


def marked_workbook(data, table, errors):
    """The clerk's file with a 错误说明 column and its bad cells coloured, to fix in place and upload again.

    ``errors`` is {sheet row: [(column index or None, message)]}. An .xlsx keeps its own
    formatting; an .xls or .csv becomes an .xlsx with the same rows in the same places.
    """
    if extension(table.filename) == ".xlsx" or data[:2] == b"PK":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = load_workbook(io.BytesIO(data))
        ws = wb[table.sheet] if table.sheet in wb.sheetnames else wb.worksheets[0]
        width = ws.max_column
    else:
        wb = Workbook()
        ws = wb.active
        ws.title = (table.sheet or "Sheet1")[:31]
        width = 0
        for n, row in enumerate(table.rows, start=1):
            width = max(width, len(row))
            for i, v in enumerate(row):
                if v not in (None, ""):
                    write(ws, n, i + 1, v)
    _mark(ws, table, errors, width + 1)
    return wb


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(wb, filename, fallback):
    """A workbook as a download; the Chinese name as RFC 5987 filename*, an ASCII one for old clients."""
    buf = io.BytesIO()
    wb.save(buf)
    resp = make_response(buf.getvalue())
    resp.mimetype = XLSX_MIME
    resp.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    return resp


# Writing a report as a township forwards it

TITLE_FONT = Font(bold=True, size=14)
BOLD = Font(bold=True)
HEADER_FILL_GREY = PatternFill("solid", fgColor="D9D9D9")


def _write_cell(ws, row, col, value, font=None, fill=None):
    """One cell of a report: numbers stay numbers, everything else is text (never a formula: ``write``),
    and an ID number typed into any text (a name, a note) is masked, as on every page."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    cell = write(ws, row, col, value if number else ("" if value is None else mask_ids_in_text(str(value))))
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    return cell


def report_workbook(title, lines, headers, rows, totals=None, footer=(), sheet="报表", widths=None, into=None):
    """An .xlsx report: a bold title, lines under it (period, unit, date), a grey header row, the rows,
    a bold totals row (合计) and footer lines (signatures). ``into``: add it as a further sheet of
    that workbook (a report of several tables)."""
    if into is None:
        wb = Workbook()
        ws = wb.active
    else:
        wb = into
        ws = wb.create_sheet()
    ws.title = sheet[:31]
    _write_cell(ws, 1, 1, title, TITLE_FONT)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(1, len(headers)))
    r = 2
    for text in lines:
        _write_cell(ws, r, 1, text)
        r += 1
    r += 0
    for c, h in enumerate(headers, 1):
        _write_cell(ws, r, c, h, BOLD, HEADER_FILL_GREY)
    header_row = r
    for row in rows:
        r += 1
        for c, v in enumerate(row, 1):
            _write_cell(ws, r, c, v)
    if totals is not None:
        r += 1
        for c, v in enumerate(totals, 1):
            _write_cell(ws, r, c, v, BOLD)
    r += 1
    for text in footer:
        r += 1
        _write_cell(ws, r, 1, text)
    for c, h in enumerate(headers, 1):
        width = (widths or {}).get(c) or max(6, min(40, 2 * len(str(h)) + 4))
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    return wb
