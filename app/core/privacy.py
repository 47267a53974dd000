"""ID numbers are masked in everything the app shows, prints or exports, unless revealed on purpose.

A person may type an ID number into any free text (a case's description, a meeting's
minutes, an address). Rather than each template remembering a filter, masking is the
default of the rendering itself:

- every ``{{ … }}`` of plain text in a template (pages, fragments, printed PDFs, messages)
  passes through :func:`finalize`, Jinja's hook for each printed value;
- every form field WTForms renders passes through the base form's ``render_field``
  (``app.core.forms.Form``), so a text box opened to edit a record shows the number masked
  too (saving it then keeps the masked text);
- spreadsheet exports call :func:`mask_ids_in_text` on each text cell;
- a download's file name (made from an address, a grid's name …) is masked on its way out.

The exceptions are explicit: a value passed through the ``reveal`` filter (the audited
"查看完整号码" of a resident) and an ID-number input (``IdNumberField``) re-showing what
its user just typed. Markup built in Python from data (rare: the grid filter's options)
must mask its pieces itself with :func:`mask_ids_in_text`.
"""
import re
from urllib.parse import quote, unquote

from jinja2 import pass_environment
from jinja2.filters import do_truncate
from markupsafe import Markup, escape
from wtforms import StringField

from .validators import ID_TEXT_MIN_LENGTH, mask_ids_in_text


def finalize(value):
    """Jinja's ``finalize``: plain text printed by a template, with ID numbers masked.

    Markup (already HTML: macros, form fields, revealed numbers) is left as it is; the text
    inside it went through here or through the form's ``render_field`` when it was built.
    """
    if isinstance(value, str):
        if isinstance(value, Markup) or len(value) < ID_TEXT_MIN_LENGTH:
            return value
        return mask_ids_in_text(value)
    if value is None or isinstance(value, (int, float)) or hasattr(value, "__html__"):
        return value
    text = str(value)  # an object printed by its str() (a date, a proxy, a model's label)
    return mask_ids_in_text(text) if len(text) >= ID_TEXT_MIN_LENGTH else value


def reveal(value):
    """Show a full ID number on purpose (the caller has checked ``reveal_id`` and audited it)."""
    return escape(value or "")


def mask_html(html):
    """Markup with the ID numbers in its text masked (digits only change: the HTML stays valid)."""
    return Markup(mask_ids_in_text(str(html)))


class IdNumberField(StringField):
    """A text box for an ID number: it shows what its user typed in full (it is their input)."""

    reveals_id = True


_EXTENDED_NAME = re.compile(r"filename\*=UTF-8''([^;\s]+)", re.I)
_PLAIN_NAME = re.compile(r'filename=("[^"]*"|[^;\s]*)', re.I)


def mask_download_name(resp):
    """After each request: the file name of a download masked, both its RFC 6266 ``filename*`` and
    the plain ASCII one (which is the same name without its Chinese, so digits around it run together)."""
    header = resp.headers.get("Content-Disposition")
    if not header or len(header) < ID_TEXT_MIN_LENGTH:
        return resp
    extended = _EXTENDED_NAME.search(header)
    if extended:
        name = mask_ids_in_text(unquote(extended.group(1)))
        plain = name.encode("ascii", "ignore").decode().replace('"', "") or "download"
        header = _EXTENDED_NAME.sub(lambda m: "filename*=UTF-8''" + quote(name, safe=""), header)
        header = _PLAIN_NAME.sub(lambda m: f'filename="{plain}"', header)
    resp.headers["Content-Disposition"] = mask_ids_in_text(header)
    return resp


@pass_environment
def truncate(env, text, *args, **kwargs):
    """Jinja's ``truncate``, masking first: a number cut in two would no longer look like one."""
    if isinstance(text, str) and not isinstance(text, Markup):
        text = mask_ids_in_text(text)
    return do_truncate(env, text, *args, **kwargs)


def init_app(app):
    app.after_request(mask_download_name)
    app.jinja_env.finalize = finalize
    app.jinja_env.filters["reveal"] = reveal
    app.jinja_env.filters["truncate"] = truncate
