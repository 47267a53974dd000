"""The photo store: where prepared photos (core/uploads.py) are written, and how they are served.

Every photo arrives here already checked, turned upright, shrunk and re-encoded
as JPEG without metadata (core/uploads.py). Two folder layouts exist, both kept
as they are because installations hold files in them:
- flat, one folder per kind (``instance/case_photos/``, ``instance/patrol_photos/``),
  one JPEG per photo: ``store_flat`` / ``flat_response``;
- dated, with a thumbnail (``instance/uploads/<area>/<yyyy>/<mm>/``), for visit
  photos shown as thumbnails in lists: ``store_image`` / ``send_photo``.
Files are served only by a view that has checked the user may see the record the
photo belongs to; they are read whole (photos are small), so no file handle
outlives the request.
"""
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import Response, abort, current_app

from ..extensions import db
from . import uploads
from .timeutil import local_today, utcnow


class PhotoSize:
    """The columns every stored photo row has: the stored JPEG's size in pixels and bytes."""

    width = db.Column(db.Integer, nullable=False)
    height = db.Column(db.Integer, nullable=False)
    size = db.Column(db.Integer, nullable=False)


class PhotoFile(PhotoSize):
    """A photo row of the flat layout: the file's name in its folder, and its size."""

    stored_name = db.Column(db.String(80), nullable=False, unique=True)


class Taken:
    """When the photo was stored (photo tables that record it)."""

    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)


def _jpeg(path):
    """A stored JPEG as the answer, or 404 when the file is missing."""
    if not path.is_file():
        abort(404)
    resp = Response(path.read_bytes(), mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


# The flat layout: instance/<kind>/<name>.jpg

def folder(sub):
    """Where photos of one kind are kept under instance/."""
    return Path(current_app.instance_path) / sub


def check_photos(files):
    """Refuse (ServiceError on the photos field) anything that is not a usable photo."""
    return uploads.check_photos(files, max_photos=uploads.MAX_PHOTOS)


def store_flat(files, sub):
    """Write each photo's prepared JPEG under instance/<sub>/; returns (name, width, height, size) each.

    The files go away again if the rows are not committed (uploads.write_with_session).
    """
    stored = []
    for img in check_photos(files):
        name = f"{uuid.uuid4().hex}.jpg"
        uploads.write_with_session(folder(sub) / name, img.jpeg)
        stored.append((name, img.jpeg_width, img.jpeg_height, len(img.jpeg)))
    return stored


def flat_response(model, photo_id, owner_field, owner_id, sub):
    """The JPEG of a photo row that belongs to the given (already scope-checked) owner, else 404."""
    row = db.session.get(model, photo_id)
    if row is None or getattr(row, owner_field) != owner_id:
        abort(404)
    return _jpeg(folder(sub) / row.stored_name)


# The dated layout with thumbnails: instance/uploads/<area>/<yyyy>/<mm>/

@dataclass
class StoredPhoto:
    file_name: str  # relative to the uploads folder; the thumbnail adds "_t"
    width: int
    height: int
    size: int


def uploads_root():
    return Path(current_app.instance_path) / "uploads"


def _thumb_name(file_name):
    return file_name[:-4] + "_t.jpg"


def store_image(prepared, area):
    """Save a prepared image (its JPEG and thumbnail); returns where."""
    day = local_today()
    rel = f"{area}/{day:%Y}/{day:%m}/{uuid.uuid4().hex}.jpg"
    uploads.write_with_session(uploads_root() / rel, prepared.jpeg)
    uploads.write_with_session(uploads_root() / _thumb_name(rel), prepared.thumb)
    return StoredPhoto(rel, prepared.jpeg_width, prepared.jpeg_height, len(prepared.jpeg))


def stored_files(file_name):
    """The files of a stored photo: the photo and its thumbnail."""
    return [uploads_root() / file_name, uploads_root() / _thumb_name(file_name)]


def send_photo(file_name, thumb=False):
    """Serve a stored photo (the caller has checked the user may see it)."""
    root = uploads_root().resolve()
    path = (root / (_thumb_name(file_name) if thumb else file_name)).resolve()
    if root not in path.parents:
        abort(404)
    return _jpeg(path)
