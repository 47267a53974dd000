"""PDF documents: templates/print/* rendered by WeasyPrint.

Every printed document goes through ``render_pdf``: A4, the CJK font set on
``html`` (so the page-margin boxes use it too), a running header with the
village and the period, 第 N 页 / 共 M 页 in the footer. The url_fetcher lets
WeasyPrint read only the app's own static files and inline ``data:`` images;
anything else (a resident's photo URL typed into a note, a remote stylesheet)
is refused, so a document can never make the server fetch from the network.
The print font (``printfont``: Noto Sans CJK SC cut to the characters Chinese
documents use, kept in ``instance/fonts``) is added to every document; the
fetcher serves those files too, and nothing else from the instance folder.

**One document at a time per process.** Pango, fontconfig and GLib under WeasyPrint are not
safe to drive from several threads at once (waitress serves requests on threads; GLib
reported corrupted memory when several PDFs were rendered together), so the WeasyPrint
part of every document — parsing the print stylesheet, layout, writing the PDF — runs
behind one lock. The templates are rendered before it, in parallel. At most
``PRINT_QUEUE`` documents wait or render at once and none waits longer than
``PRINT_WAIT_SECONDS``; past that the request gets "打印繁忙，请稍后再试" (503) at once
rather than hanging.
"""
import mimetypes
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from flask import current_app, make_response, render_template
from werkzeug.exceptions import ServiceUnavailable

from . import printfont
from .static_files import source_name

# A fixed, unroutable origin: relative URLs in print templates resolve against it,
# and the fetcher maps /static/... under it to files. Nothing else resolves.
PRINT_ORIGIN = "http://print.villagegrid.invalid"
FONT_PATH = "/print-fonts/"
_FONT_CONFIG = None
_SHEETS = {}  # (kind, path) -> (stamp, parsed stylesheet), per process


PRINT_QUEUE = 16  # documents rendering or waiting per process
PRINT_WAIT_SECONDS = 30


class FetchRefused(ValueError):
    """A print template asked for something outside the app's static files."""


class PrintBusy(ServiceUnavailable):
    """Too many documents in the queue, or waited too long for a turn: 503 with a Chinese message."""

    description = "打印繁忙，请稍后再试。"


class _Printer:
    """The process's single renderer: a lock, and a count of who is rendering or waiting for it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.guard = threading.Lock()
        self.queued = 0

    @contextmanager
    def turn(self):
        with self.guard:
            if self.queued >= PRINT_QUEUE:
                raise PrintBusy()
            self.queued += 1
        try:
            if not self.lock.acquire(timeout=PRINT_WAIT_SECONDS):
                raise PrintBusy()
            try:
                yield
            finally:
                self.lock.release()
        finally:
            with self.guard:
                self.queued -= 1


_printer = _Printer()


def _weasyprint():
    """WeasyPrint, loaded with the first document a process prints."""
    # late import: start-up time (WeasyPrint with Pango, fontconfig and fontTools costs every process about
    # 40 MB and 0.3 CPU s; CLI commands and most requests print nothing)
    import weasyprint.text.fonts

    return weasyprint


def _font_config():
    """One FontConfiguration for the process (building it scans the fonts)."""
    global _FONT_CONFIG
    if _FONT_CONFIG is None:
        _FONT_CONFIG = _weasyprint().text.fonts.FontConfiguration()
    return _FONT_CONFIG


def static_only_fetcher(url, timeout=10, ssl_context=None):
    """WeasyPrint url_fetcher: the app's static folder and data: URLs, nothing else."""
    if url.startswith("data:"):
        return _weasyprint().default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin == PRINT_ORIGIN and parts.path.startswith(FONT_PATH):
        return _print_font_file(parts.path[len(FONT_PATH):], url)
    if origin != PRINT_ORIGIN or not parts.path.startswith("/static/"):
        raise FetchRefused(f"打印模板不允许读取外部地址：{url}")
    root = Path(current_app.static_folder).resolve()
    name, _ = source_name(unquote(parts.path[len("/static/"):]))  # url_for('static') builds hashed names
    target = (root / name).resolve()
    if root not in target.parents or not target.is_file():
        raise FetchRefused(f"打印模板引用的文件不存在：{parts.path}")
    mime, _ = mimetypes.guess_type(target.name)
    return {"string": target.read_bytes(), "mime_type": mime or "application/octet-stream", "redirected_url": url}


def font_folder():
    return Path(current_app.instance_path) / "fonts"


def _print_font_file(name, url):
    """One of the built print font files, by its exact name; nothing else in the instance folder."""
    if not printfont.FILE_NAME.match(name) or name not in printfont.fonts(font_folder()).values():
        raise FetchRefused(f"打印字体文件不存在：{name}")
    return {"string": (font_folder() / name).read_bytes(), "mime_type": "font/otf", "redirected_url": url}


def _cached_sheet(key, stamp, make):
    """A parsed stylesheet kept per process until ``stamp`` changes (parsing costs more than
    laying out a short document; the @font-face rules also load their files only once)."""
    cached = _SHEETS.get(key)
    if cached is None or cached[0] != stamp:
        cached = _SHEETS[key] = (stamp, make())
    return cached[1]


def _font_sheet():
    """The print font's @font-face rules, or None when the print font could not be made."""
    folder = str(font_folder())

    def make():
        css = printfont.font_face_css(folder, PRINT_ORIGIN + FONT_PATH)
        return _weasyprint().CSS(string=css, base_url=PRINT_ORIGIN + "/", url_fetcher=static_only_fetcher,
                   font_config=_font_config()) if css else None
    return _cached_sheet(("fonts", folder), None, make)


def _print_sheet():
    """static/css/print.css, parsed again only when the file changes."""
    path = Path(current_app.static_folder) / "css" / "print.css"
    return _cached_sheet(("print", str(path)), path.stat().st_mtime_ns, lambda: _weasyprint().CSS(
        string=path.read_text(encoding="utf-8"), base_url=PRINT_ORIGIN + "/static/css/print.css",
        url_fetcher=static_only_fetcher, font_config=_font_config()))


def render_html(template, **ctx):
    """The HTML of a print template (autoescaped like every other template)."""
    return render_template(template, **ctx)


def html_to_pdf(html, with_pages=False, *, plain=False):
    """PDF bytes for an HTML string, with the restricted fetcher, the shared fonts and print.css.

    With ``with_pages`` the result is ``(bytes, page count)``. ``plain`` leaves out print.css
    (the print font is still there).
    """
    with _printer.turn():  # Pango and GLib: one document at a time in this process (see above)
        source = _weasyprint().HTML(string=html, base_url=PRINT_ORIGIN + "/", url_fetcher=static_only_fetcher)
        sheets = [sheet for sheet in (_font_sheet(), None if plain else _print_sheet()) if sheet is not None]
        document = source.render(font_config=_font_config(), stylesheets=sheets)
        data = document.write_pdf()
        pages = len(document.pages)
    return (data, pages) if with_pages else data


def render_pdf(template, *, title, header, with_pages=False, **ctx):
    """Render ``templates/print/<template>`` to PDF bytes.

    ``title`` is the document title (also the PDF metadata title); ``header``
    is the running header line, e.g. "徐旺村 · 2026年11月".
    """
    return html_to_pdf(render_html(template, doc_title=title, doc_header=header, **ctx), with_pages)


_UNSAFE = re.compile(r'[\\/:*?"<>|\r\n\t]+')


def pdf_response(pdf, filename, *, inline=False):
    """A download response; the file name may be Chinese (RFC 6266 filename*)."""
    safe = _UNSAFE.sub("_", filename).strip() or "document.pdf"
    if not safe.lower().endswith(".pdf"):
        safe += ".pdf"
    ascii_name = safe.encode("ascii", "ignore").decode() or "document.pdf"
    if ascii_name.startswith("."):
        ascii_name = "document" + ascii_name
    resp = make_response(pdf)
    resp.headers["Content-Type"] = "application/pdf"
    disposition = "inline" if inline else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe)}"
    return resp
