"""Photos sent from phones: checked, resized and stored under instance/uploads/.

Files never go into static/: they are served by a view that first checks the
user may see the record they belong to. Re-encoding as JPEG drops the EXIF
block (GPS position, phone model) after applying its rotation.

A file belongs to rows of the database, and is written before those rows are
committed. ``write_with_session`` ties the two: the file is kept when the
session's transaction commits, and deleted when it ends any other way (a refusal
rolled back, a conflict at commit, an error that ends the request), so a failed
save leaves no photo or scan behind without its record.
"""
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, send_file
from sqlalchemy import event
from sqlalchemy.orm import Session

from .forms import ServiceError
from .timeutil import local_today

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}  # MPO: what some phones' cameras write
MAX_PIXELS = 50_000_000
MAX_PHOTO_BYTES = 12 * 1024 * 1024
MAX_PHOTOS = 6
MAX_SIDE = 1600
THUMB_SIDE = 360


@dataclass
class StoredPhoto:
    file_name: str  # relative to the uploads folder; the thumbnail adds "_t"
    width: int
    height: int
    size: int


_PENDING = "pending_files"  # key in Session.info: files written in the open transaction
_DOOMED = "doomed_files"  # files whose rows the open transaction deletes


def _open_session(session):
    from ..extensions import db

    session = session or db.session()
    if not session.in_transaction():
        session.begin()  # no database work yet: this only opens the session's transaction, to end with it
    return session


def write_with_session(path, data, session=None):
    """Write ``data`` to ``path``; the file goes away again unless the current transaction commits."""
    session = _open_session(session)
    path = Path(path)
    path.write_bytes(data)
    session.info.setdefault(_PENDING, []).append(path)
    return path


def delete_with_session(paths, session=None):
    """Delete these files once the current transaction commits (their rows are being deleted)."""
    session = _open_session(session)
    session.info.setdefault(_DOOMED, []).extend(Path(p) for p in paths)


@event.listens_for(Session, "after_commit")
def _keep_written_files(session):
    session.info.pop(_PENDING, None)
    for path in session.info.pop(_DOOMED, []):
        path.unlink(missing_ok=True)


@event.listens_for(Session, "after_transaction_end")
def _drop_written_files(session, transaction):
    if transaction.parent is None:  # the outermost transaction ended without a commit
        for path in session.info.pop(_PENDING, []):
            path.unlink(missing_ok=True)
        session.info.pop(_DOOMED, None)


def uploads_root():
    return Path(current_app.instance_path) / "uploads"


def _thumb_name(file_name):
    return file_name[:-4] + "_t.jpg"


def open_photo(data, name, formats=ALLOWED_FORMATS, max_bytes=MAX_PHOTO_BYTES):
    """Decode one uploaded photo, upright (EXIF rotation applied), or raise ServiceError naming the file.

    The one check every area uses (visits, cases, patrols): size, a real image, an
    accepted format, and a pixel count refused before decoding (decompression bombs).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(data) > max_bytes:
        raise ServiceError(f"照片“{name}”有 {len(data) / 1048576:.1f} MB，超过 {max_bytes // 1048576} MB 上限。", "photos")
    if not data:
        raise ServiceError(f"照片“{name}”是空文件。", "photos")
    try:
        img = Image.open(io.BytesIO(data))
        fmt = img.format
        if fmt not in formats:
            raise ServiceError(f"照片“{name}”是 {fmt} 格式，只接受 JPG、PNG 或 WebP。", "photos")
        if img.width * img.height > MAX_PIXELS:
            raise ServiceError(f"照片“{name}”的尺寸过大（{img.width}×{img.height}）。", "photos")
        img.load()
        return ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ServiceError(f"文件“{name}”不是照片或已损坏（只接受 JPG、PNG 或 WebP 图片）。", "photos") from None


def encode_jpeg(img, side=MAX_SIDE, quality=82):
    """A resized JPEG of the image (no EXIF block): (bytes, width, height)."""
    copy = img.convert("RGB") if img.mode != "RGB" else img.copy()
    copy.thumbnail((side, side))
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue(), copy.width, copy.height


def check_photos(files, max_photos=MAX_PHOTOS, **limits):
    """Read and check uploaded files before anything is saved; returns the decoded images.

    The files are rewound, so a caller may read them again.
    """
    files = [f for f in files if f and getattr(f, "filename", "")]
    if len(files) > max_photos:
        raise ServiceError(f"每次最多上传 {max_photos} 张照片，这次选了 {len(files)} 张。", "photos")
    images = []
    for f in files:
        data = f.read()
        f.seek(0)
        images.append(open_photo(data, f.filename, **limits))
    return images


def store_image(img, area):
    """Save a checked image as a resized JPEG plus a thumbnail; returns where."""
    day = local_today()
    rel = f"{area}/{day:%Y}/{day:%m}/{uuid.uuid4().hex}.jpg"
    target = uploads_root() / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    big, width, height = encode_jpeg(img)
    write_with_session(target, big)
    write_with_session(uploads_root() / _thumb_name(rel), encode_jpeg(img, THUMB_SIDE, quality=75)[0])
    return StoredPhoto(rel, width, height, len(big))


def stored_files(file_name):
    """The files of a stored photo: the photo and its thumbnail."""
    return [uploads_root() / file_name, uploads_root() / _thumb_name(file_name)]


def send_photo(file_name, thumb=False):
    """Serve a stored photo (the caller has checked the user may see it)."""
    root = uploads_root().resolve()
    path = (root / (_thumb_name(file_name) if thumb else file_name)).resolve()
    if root not in path.parents or not path.is_file():
        from flask import abort

        abort(404)
    # Read into memory (photos are small): no file handle left open on the response.
    resp = send_file(io.BytesIO(path.read_bytes()), mimetype="image/jpeg", max_age=0)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
