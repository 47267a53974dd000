"""ID numbers are masked in everything the app shows, prints or exports, unless revealed on purpose.

A person may type an ID number into any free text (a case's description, a meeting's
minutes, an address). Rather than each template remembering a filter, masking is the
default of the rendering itself:

- every ``{{ … }}`` of plain text in a template (pages, fragments, printed PDFs, messages)
  passes through :func:`finalize`, Jinja's hook for each printed value;
- every form field WTForms renders passes through the base form's ``render_field``
  (``app.core.forms.Form``), so a text box opened to edit a record shows the number masked
  too (saving it then keeps the masked text);
- spreadsheet exports call :func:`mask_ids_in_text` on each text cell.

The exceptions are explicit: a value passed through the ``reveal`` filter (the audited
"查看完整号码" of a resident) and an ID-number input (``IdNumberField``) re-showing what
its user just typed. Markup built in Python from data (rare: the grid filter's options)
must mask its pieces itself with :func:`mask_ids_in_text`.
"""
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


def init_app(app):
    app.jinja_env.finalize = finalize
    app.jinja_env.filters["reveal"] = reveal
    # Kept for templates that name it; finalize masks the same text anyway.
    app.jinja_env.filters["noid"] = mask_ids_in_text
