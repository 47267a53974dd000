"""Form helpers shared by every area."""
from datetime import date, datetime

from flask import flash, has_request_context, redirect, request
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, IntegerField, SelectField
from wtforms.validators import ValidationError

from ..extensions import db
from . import idempotency
from .errors import ServiceError  # noqa: F401  (where every area imports it from)
from .form_stash import restored_formdata
from .inputs import MAX_INT, MIN_INT
from .privacy import mask_html
from .timeutil import fmt_local
from .validators import PLANNED, InvalidValue, normalize_phone


class Form(FlaskForm):
    """The base of every form: WTForms' own messages ("不是有效的选择" …) in Chinese."""

    class Meta:
        locales = ["zh"]

        def render_field(self, field, render_kw):
            """Every field as HTML, with ID numbers in its value or choices masked (app.core.privacy);
            an ID-number box (``reveals_id``) shows what was typed into it."""
            html = FlaskForm.Meta.render_field(self, field, render_kw)
            return html if getattr(field, "reveals_id", False) else mask_html(html)

    def __init__(self, *args, **kwargs):
        # A form reopened after logging in again is filled with what its user typed (core.form_stash).
        if not args and "formdata" not in kwargs:
            restored = restored_formdata() if has_request_context() else None
            if restored is not None:
                kwargs["formdata"] = restored
        super().__init__(*args, **kwargs)


    @property
    def errors(self):
        """WTForms' errors, and those ``show_error`` put in the form's ErrorSlots (so the form counts
        as shown again with errors)."""
        errors = super().errors
        for name, slot in vars(self).items():
            if isinstance(slot, ErrorSlot) and slot.errors:
                errors[name] = slot.errors
        return errors

    def validate(self, extra_validators=None):
        """WTForms' validation, then the input rules every form shares: numbers a database column can
        hold, and every date inside its window (``InWindow``; PLANNED unless the field names one)."""
        ok = super().validate(extra_validators)
        for field in self:
            ok = _within_bounds(field) and ok
        return ok


def _within_bounds(field):
    data = field.data
    if field.errors or data is None:
        return True
    if isinstance(field, (IntegerField, SelectField)) and isinstance(data, int) and not isinstance(data, bool):
        if not MIN_INT <= data <= MAX_INT:
            field.errors = list(field.errors) + ["数值超出范围。"]
            return False
    if isinstance(field, (DateField, DateTimeLocalField)) and isinstance(data, (date, datetime)):
        if not any(isinstance(v, InWindow) for v in field.validators):
            try:
                InWindow(PLANNED)(None, field)
            except ValidationError as exc:
                field.errors = list(field.errors) + [str(exc)]
                return False
    return True


class InWindow:
    """WTForms validator: the date lies in a ``validators.DateWindow``; the message states the window."""

    def __init__(self, window, label=None):
        self.window = window
        self.label = label

    def __call__(self, form, field):
        if field.data is None:
            return
        value = field.data.date() if hasattr(field.data, "date") else field.data
        try:
            self.window.check(value, self.label or str(field.label.text))
        except InvalidValue as exc:
            raise ValidationError(str(exc)) from None


def acted_first(latest, latest_label, action, form, version, nobody="其他人刚刚处理了这条记录"):
    """Someone acted first on a record with versions (a case, a hazard): the refusal to show.

    ``latest`` is the record's last event (``actor_name``, ``at``), ``latest_label`` what it did.
    The form keeps what the user typed and takes the record's current version, so it can still be
    sent if the step is still open, or its text copied into another step. Returns the ``refused``
    mapping the page template shows (``_refused.html``)."""
    who = f"{latest.actor_name or '系统'}于{fmt_local(latest.at, '%m-%d %H:%M')}已“{latest_label}”" if latest else nobody
    form.form_errors = [f"{who}，您的“{action.label}”没有保存。您填写的内容还在下面，请看过最新进展后再决定。"]
    form.version.data, form.version.raw_data = version, None
    return {"action": action, "form": form, "message": form.form_errors[0]}



class ErrorSlot:
    """Where ``show_error`` puts a refusal about a part of a form that is not a WTForms field (a group
    of inputs the view reads itself): set it as the form's attribute of the ServiceError's field name."""

    def __init__(self):
        self.errors = []


def show_error(form, exc):
    """Put a service refusal next to its field, or at the top of the form."""
    field = getattr(form, exc.field, None) if getattr(exc, "field", None) else None
    if field is not None:
        field.errors = list(field.errors) + [str(exc)]
    else:
        form.form_errors.append(str(exc))


def run_form(form, action, message, target):
    """The POST half of a form view: validate, run the service, commit, flash, redirect.

    ``action()`` does the work and may raise ServiceError, which is shown on the
    form and rolls everything back. ``message`` and ``target`` are strings or
    callables taking the action's result. Returns a redirect, or None when the
    form should be shown again (GET, or with its errors).

    A form that creates a record carries a key (``idempotency.KeyedForm``): the same
    key sent again leads to the record it made, which is never made twice.
    """
    key = form.form_key.data if isinstance(form, idempotency.KeyedForm) and form.is_submitted() else None
    user_id = current_user.id if current_user.is_authenticated else None
    if key:
        try:
            earlier = idempotency.earlier(key, user_id)
        except ServiceError as exc:
            show_error(form, exc)
            return None
        if earlier is not None:
            idempotency.flash_already_saved()
            return redirect(target(earlier) if callable(target) else target)
    if not form.validate_on_submit():
        return None
    try:
        earlier = idempotency.claim(key, user_id, request.endpoint) if key else None
        if earlier is not None:
            db.session.rollback()
            idempotency.flash_already_saved()
            return redirect(target(earlier) if callable(target) else target)
        result = action()
        if key:
            idempotency.made(key, result)
    except ServiceError as exc:
        db.session.rollback()
        show_error(form, exc)
        return None
    db.session.commit()
    flash(message(result) if callable(message) else message, "success")
    return redirect(target(result) if callable(target) else target)


def run_action(action, message, target, back=None):
    """The POST of a button (nothing typed to show again): run ``action()``, commit, flash ``message``
    and redirect to ``target``; a ServiceError is rolled back and said, and leads to ``back`` (else
    ``target``). ``message`` and ``target`` are strings or callables taking the action's result (then
    ``back`` is needed)."""
    try:
        result = action()
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back or target)
    db.session.commit()
    flash(message(result) if callable(message) else message, "success")
    return redirect(target(result) if callable(target) else target)


class Phone:
    """WTForms validator: a Chinese mobile or fixed-line number, stored normalised."""

    def __call__(self, form, field):
        try:
            field.data = normalize_phone(field.data)
        except InvalidValue as exc:
            raise ValidationError(str(exc)) from None
