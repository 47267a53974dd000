"""Case photos: checked and resized by app.core.uploads (as visit photos are), stored under instance/case_photos/.

Files are re-encoded as JPEG (which also drops EXIF, GPS included) after the
orientation is applied, so what is stored is always a plain image of bounded
size whatever the phone sent; the decoding happened before the view ran
(core/uploads.py). They are served only through the case's page route, which
checks the case's scope.
"""
import uuid
from pathlib import Path

from flask import current_app

from ..core import uploads
from ..extensions import db

MAX_PHOTOS = uploads.MAX_PHOTOS


def folder(sub="case_photos"):
    """Where photos of one kind are kept under instance/."""
    return Path(current_app.instance_path) / sub


def check_uploads(files):
    """Refuse (ServiceError on the photos field) anything that is not a usable photo."""
    uploads.check_photos(files, max_photos=MAX_PHOTOS)


def store_uploads(files, sub="case_photos"):
    """Write each photo's prepared JPEG (call check_uploads first); returns (name, width, height, size) each."""
    stored = []
    for img in uploads.check_photos(files, max_photos=MAX_PHOTOS):
        name = f"{uuid.uuid4().hex}.jpg"
        uploads.write_with_session(folder(sub) / name, img.jpeg)
        stored.append((name, img.jpeg_width, img.jpeg_height, len(img.jpeg)))
    return stored


def save_uploads(case, event, files):
    """Store each photo of a case's timeline step, one CasePhoto row per file."""
    from .models import CasePhoto

    for name, width, height, size in store_uploads(files):
        db.session.add(CasePhoto(case_id=case.id, event_id=event.id, stored_name=name, width=width, height=height,
                                 size=size))
    db.session.flush()


def photo_response(model, photo_id, owner_field, owner_id, sub="case_photos"):
    """The JPEG of a photo row that belongs to the given (already scope-checked) owner, else 404.

    Read whole (photos are re-encoded and small), so no file handle outlives the request.
    """
    from flask import Response, abort

    row = db.session.get(model, photo_id)
    if row is None or getattr(row, owner_field) != owner_id:
        abort(404)
    path = folder(sub) / row.stored_name
    if not path.is_file():
        abort(404)
    return Response(path.read_bytes(), mimetype="image/jpeg")
