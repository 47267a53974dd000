"""The refusal every service raises (shown on the form by ``core.forms.run_form``)."""


class ServiceError(Exception):
    """A refusal from a service, in Chinese, optionally tied to a form field."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field
