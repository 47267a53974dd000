"""Form helpers shared by every area."""


class ServiceError(Exception):
    """A refusal from a service, in Chinese, optionally tied to a form field."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def show_error(form, exc):
    """Put a service refusal next to its field, or at the top of the form."""
    field = getattr(form, exc.field, None) if getattr(exc, "field", None) else None
    if field is not None:
        field.errors = list(field.errors) + [str(exc)]
    else:
        form.form_errors.append(str(exc))
