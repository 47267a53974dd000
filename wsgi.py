"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi``."""
from app import create_app
from app.core import schedules, warmup

app = create_app()
# Under gunicorn (or any WSGI server) each worker starts the schedules with its first request; one
# of them runs each due schedule (a row in the database decides). CLI commands serve no request.
schedules.start_with_first_request(app)
# Each worker also works out the top grids' dashboard in the background after its first request.
warmup.start_with_first_request(app)
