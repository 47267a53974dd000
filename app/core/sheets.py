"""Reading spreadsheet cells that people typed: text as the clerk meant it."""
import unicodedata
import warnings

from openpyxl import load_workbook

from .forms import ServiceError


def cell_text(value):
    """A cell as text: numbers without a trailing .0, whitespace trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value.strip() if isinstance(value, str) else unicodedata.normalize("NFKC", str(value)).strip()


def is_blank(values):
    """Whether every cell of a row is empty."""
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def open_workbook(fileobj):
    """Open an uploaded .xlsx read-only, or raise ServiceError saying why it cannot be read."""
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles or extensions it drops; they do not matter for reading.
            warnings.simplefilter("ignore")
            return load_workbook(fileobj, read_only=True, data_only=True)
    except Exception as exc:  # any failure to parse user input is the same answer to the user
        raise ServiceError(f"文件无法作为 Excel 工作簿（.xlsx）打开：{type(exc).__name__}。"
                           "请用 Excel 或 WPS 打开后“另存为 Excel 工作簿（.xlsx）”再上传。") from None
