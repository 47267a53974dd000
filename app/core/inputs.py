"""Untrusted input, normalised in one place before any view sees it.

Every form value and query-string value is read through the app's request class
(``CleanRequest``): NUL and the other control characters are removed (line breaks
and tabs stay; a browser's CRLF becomes LF), a value longer than the cap is refused,
and bytes that are not UTF-8 are refused — with a Chinese message, never a 500.
PostgreSQL refuses a NUL byte in text outright, and SQLite would store it silently
and break an Excel export later, so no NUL reaches either.

Integers from the URL (``<int:…>``) and from query strings (``args.get(..., type=int)``)
are bounded to what a database id can hold: a larger or negative id finds nothing (404),
never an overflow in the database driver. Path segments with control characters do not
match any route.

Unicode compatibility folding (NFKC: full-width digits and letters to ASCII) is not
applied to all text — it would turn Chinese punctuation （，） into ASCII — but by the
fields that want it (user names, numbers, codes) through :func:`nfkc`.
"""
import io
import re
import unicodedata
from urllib.parse import parse_qsl

from flask import Request
from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.formparser import FormDataParser
from werkzeug.routing import IntegerConverter, PathConverter, UnicodeConverter

from .web import error_response

# The largest id or number any integer column holds (PostgreSQL ``integer``).
MAX_INT = 2**31 - 1
MIN_INT = -(2**31)
# Pages of a list: far past any real list, small enough that OFFSET never overflows.
MAX_PAGE = 100_000
# One form value (the longest free text is a meeting's minutes) and one query-string value.
MAX_FORM_CHARS = 50_000
MAX_QUERY_CHARS = 1_000
# A picture sent as a data URL (a finger signature drawn on the phone): its own size rule
# (agreements' SIGNATURE_MAX_BYTES, 512 KB, is about 700,000 characters in base64) applies after.
MAX_DATA_URL_CHARS = 1_000_000

# C0 and C1 control characters and DEL, except tab and line feed (CR is folded into LF first).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A path segment of a route: no slash, no control character.
_SEGMENT = r"[^/\x00-\x1f\x7f]"


class BadInput(BadRequest):
    """A request whose input cannot be taken; the description is the Chinese message."""


def clean_text(value):
    """The text with CRLF/CR as LF and control characters (NUL included) removed; tabs stay."""
    if not value:
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", value)


def nfkc(value):
    """WTForms filter: full-width letters, digits and spaces folded to ASCII (``１２３`` → ``123``)."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


def bounded_int(value, low=MIN_INT, high=MAX_INT):
    """``int(value)`` when it lies in [low, high]; ValueError otherwise (so ``type=`` callers see no value)."""
    number = int(value)
    if not low <= number <= high:
        raise ValueError("out of range")
    return number


def page_number(value):
    """A list's page from the query string: 1 … MAX_PAGE, 1 when missing or odd."""
    try:
        return bounded_int(value, 1, MAX_PAGE)
    except (TypeError, ValueError):
        return 1


def _check(value, limit, where):
    if "\ufffd" in value:
        raise BadInput(f"{where}含有无法识别的字符（不是有效的 UTF-8 编码），未处理。请检查后重新填写。")
    value = clean_text(value)
    if limit == MAX_FORM_CHARS and value.startswith("data:image/"):
        limit = MAX_DATA_URL_CHARS
    if len(value) > limit:
        raise BadInput(f"{where}有一项内容太长（{len(value)} 字，最多 {limit} 字），未处理。请删减后重新提交。")
    return value


class _CleanDict(ImmutableMultiDict):
    limit = MAX_FORM_CHARS
    where = "提交的内容"

    def __init__(self, mapping=None):
        pairs = mapping.items(multi=True) if hasattr(mapping, "items") and hasattr(mapping, "getlist") else (
            mapping.items() if isinstance(mapping, dict) else (mapping or ()))
        super().__init__([(_check(k, 200, self.where) if isinstance(k, str) else k,
                           _check(v, self.limit, self.where) if isinstance(v, str) else v) for k, v in pairs])

    def get(self, key, default=None, type=None):
        """As MultiDict.get; ``type=int`` gives only numbers a database id column can hold."""
        return super().get(key, default, bounded_int if type is int else type)


class CleanForm(_CleanDict):
    """Form fields (and uploaded files, untouched) of a request."""


class CleanArgs(_CleanDict):
    """The query string of a request."""

    limit = MAX_QUERY_CHARS
    where = "网址中的参数"


class _FormParser(FormDataParser):
    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        # Werkzeug decodes the body strictly: bytes that are not UTF-8 would raise in the view.
        body = stream.read()
        try:
            body.decode()
        except UnicodeDecodeError:
            raise BadInput("提交的内容含有无法识别的字符（不是有效的 UTF-8 编码），未处理。请检查后重新填写。") from None

        return super()._parse_urlencoded(io.BytesIO(body), mimetype, content_length, options)


class _CleanValues(CombinedMultiDict):
    def get(self, key, default=None, type=None):
        """As CombinedMultiDict.get; ``type=int`` as in ``_CleanDict.get``."""
        return super().get(key, default, bounded_int if type is int else type)


class CleanRequest(Request):
    """The app's request: form and query values normalised (see the module's docstring)."""

    parameter_storage_class = CleanForm
    form_data_parser_class = _FormParser

    @property
    def values(self):
        """Query string and form together (GET: the query string only), both normalised."""
        sources = [self.args]
        if self.method != "GET":
            sources.append(self.form)
        return _CleanValues(sources)

    @property
    def args(self):
        if "_clean_args" not in self.__dict__:
            try:
                query = self.query_string.decode()
            except UnicodeDecodeError:
                raise BadInput("网址中含有无法识别的字符（不是有效的 UTF-8 编码）。") from None
            self.__dict__["_clean_args"] = CleanArgs(
                parse_qsl(query, keep_blank_values=True, errors="werkzeug.url_quote"))
        return self.__dict__["_clean_args"]


class BoundedIntConverter(IntegerConverter):
    """``<int:id>``: only ids a database column can hold; anything else matches no route (404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_INT)
        super().__init__(map, *args, **kwargs)


class TextConverter(UnicodeConverter):
    """``<name>``: a path segment without control characters (a NUL never reaches a query)."""

    def __init__(self, map, minlength=1, maxlength=None, length=None):
        super().__init__(map, minlength, maxlength, length)
        self.regex = self.regex.replace("[^/]", _SEGMENT)


class CleanPathConverter(PathConverter):
    regex = r"[^\x00-\x1f\x7f]+?"


def init_app(app):
    """Install the request class and the converters (before any blueprint is registered)."""
    app.request_class = CleanRequest
    app.url_map.converters.update(int=BoundedIntConverter, default=TextConverter, string=TextConverter,
                                  path=CleanPathConverter)

    def _bad_input(err):
        return error_response(400, "请求有误", err.description)

    app.register_error_handler(BadInput, _bad_input)
