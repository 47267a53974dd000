"""Case photos: type and size checked, resized with Pillow, stored under instance/case_photos/.

Files are re-encoded as JPEG (which also drops EXIF, GPS included) after the
orientation is applied, so what is stored is always a plain image of bounded
size whatever the phone sent. They are served only through the case's page
route, which checks the case's scope.
"""
import io
import uuid
from pathlib import Path

from flask import current_app

from ..core.forms import ServiceError
from ..extensions import db

MAX_PHOTOS = 6
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000  # refuse decompression bombs before decoding
LONG_SIDE = 1600
FORMATS = {"JPEG", "PNG", "WEBP"}


def folder(sub="case_photos"):
    """Where photos of one kind are kept under instance/."""
    path = Path(current_app.instance_path) / sub
    path.mkdir(parents=True, exist_ok=True)
    return path


def _present(files):
    return [f for f in (files or ()) if f is not None and getattr(f, "filename", "")]


def check_uploads(files):
    """Refuse (ServiceError on the photos field) anything that is not a usable photo."""
    from PIL import Image, UnidentifiedImageError

    files = _present(files)
    if len(files) > MAX_PHOTOS:
        raise ServiceError(f"每次最多上传 {MAX_PHOTOS} 张照片，这次选了 {len(files)} 张。", "photos")
    for f in files:
        data = f.read()
        f.seek(0)
        name = f.filename
        if len(data) > MAX_BYTES:
            raise ServiceError(f"照片“{name}”有 {len(data) / 1048576:.1f} MB，超过 10 MB 上限。", "photos")
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                w, h = img.size
        except (UnidentifiedImageError, OSError):
            raise ServiceError(f"文件“{name}”不是照片（只接受 JPG、PNG 或 WebP 图片）。", "photos") from None
        if fmt not in FORMATS:
            raise ServiceError(f"照片“{name}”是 {fmt} 格式，只接受 JPG、PNG 或 WebP。", "photos")
        if w * h > MAX_PIXELS:
            raise ServiceError(f"照片“{name}”的尺寸过大（{w}×{h}）。", "photos")


def store_uploads(files, sub="case_photos"):
    """Resize, re-encode and write each photo (call check_uploads first); returns (name, width, height, size) each."""
    from PIL import Image, ImageOps

    stored = []
    for f in _present(files):
        data = f.read()
        with Image.open(io.BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img)
            img.thumbnail((LONG_SIDE, LONG_SIDE))
            if img.mode not in ("RGB", "L"):
                img = img.convert("RGB")
            out = io.BytesIO()
            img.save(out, "JPEG", quality=82, optimize=True)
            width, height = img.size
        name = f"{uuid.uuid4().hex}.jpg"
        (folder(sub) / name).write_bytes(out.getvalue())
        stored.append((name, width, height, len(out.getvalue())))
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
