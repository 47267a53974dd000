"""PDF documents: templates/print/* rendered by WeasyPrint.

Every printed document goes through ``render_pdf``: A4, the CJK font set on
``html`` (so the page-margin boxes use it too), a running header with the
village and the period, 第 N 页 / 共 M 页 in the footer. The url_fetcher lets
WeasyPrint read only the app's own static files and inline ``data:`` images;
anything else (a resident's photo URL typed into a note, a remote stylesheet)
is refused, so a document can never make the server fetch from the network.
"""
import mimetypes
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from flask import current_app, make_response, render_template

# A fixed, unroutable origin: relative URLs in print templates resolve against it,
# and the fetcher maps /static/... under it to files. Nothing else resolves.
PRINT_ORIGIN = "http://print.villagegrid.invalid"
_FONT_CONFIG = None


class FetchRefused(ValueError):
    """A print template asked for something outside the app's static files."""


def _font_config():
    """One FontConfiguration for the process (building it scans the fonts)."""
    global _FONT_CONFIG
    if _FONT_CONFIG is None:
        from weasyprint.text.fonts import FontConfiguration

        _FONT_CONFIG = FontConfiguration()
    return _FONT_CONFIG


def static_only_fetcher(url, timeout=10, ssl_context=None):
    """WeasyPrint url_fetcher: the app's static folder and data: URLs, nothing else."""
    from weasyprint import default_url_fetcher

    if url.startswith("data:"):
        return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin != PRINT_ORIGIN or not parts.path.startswith("/static/"):
        raise FetchRefused(f"打印模板不允许读取外部地址：{url}")
    root = Path(current_app.static_folder).resolve()
    target = (root / unquote(parts.path[len("/static/"):])).resolve()
    if root not in target.parents or not target.is_file():
        raise FetchRefused(f"打印模板引用的文件不存在：{parts.path}")
    mime, _ = mimetypes.guess_type(target.name)
    return {"string": target.read_bytes(), "mime_type": mime or "application/octet-stream", "redirected_url": url}


def render_html(template, **ctx):
    """The HTML of a print template (autoescaped like every other template)."""
    return render_template(template, **ctx)


def html_to_pdf(html, with_pages=False):
    """PDF bytes for an HTML string, with the restricted fetcher and the shared fonts.

    With ``with_pages`` the result is ``(bytes, page count)``.
    """
    from weasyprint import HTML

    source = HTML(string=html, base_url=PRINT_ORIGIN + "/", url_fetcher=static_only_fetcher)
    document = source.render(font_config=_font_config())
    data = document.write_pdf()
    return (data, len(document.pages)) if with_pages else data


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
