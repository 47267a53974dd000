"""Photos sent from phones: checked, resized and stored under instance/uploads/.

Files never go into static/: they are served by a view that first checks the
user may see the record they belong to. Re-encoding as JPEG drops the EXIF
block (GPS position, phone model) after applying its rotation.
"""
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, send_file

from .forms import ServiceError
from .timeutil import local_today

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "MPO"}
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


def uploads_root():
    return Path(current_app.instance_path) / "uploads"


def _thumb_name(file_name):
    return file_name[:-4] + "_t.jpg"


def check_photos(files, field_label="照片"):
    """Read and check uploaded files before anything is saved; returns decoded images.

    Raises ServiceError naming the file and what is wrong with it.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    files = [f for f in files if f and getattr(f, "filename", "")]
    if len(files) > MAX_PHOTOS:
        raise ServiceError(f"{field_label}最多 {MAX_PHOTOS} 张，您选择了 {len(files)} 张。", "photos")
    images = []
    for f in files:
        data = f.read(MAX_PHOTO_BYTES + 1)
        name = f.filename
        if len(data) > MAX_PHOTO_BYTES:
            raise ServiceError(f"{field_label}“{name}”超过 {MAX_PHOTO_BYTES // 1024 // 1024} MB，请压缩后再上传。", "photos")
        if not data:
            raise ServiceError(f"{field_label}“{name}”是空文件。", "photos")
        try:
            img = Image.open(io.BytesIO(data))
            if img.format not in ALLOWED_FORMATS:
                raise ServiceError(f"{field_label}“{name}”的格式（{img.format}）不支持，请上传 JPG 或 PNG 图片。", "photos")
            if img.width * img.height > 60_000_000:
                raise ServiceError(f"{field_label}“{name}”的像素过大。", "photos")
            img.load()
            img = ImageOps.exif_transpose(img)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ServiceError(f"文件“{name}”不是图片或已损坏，请上传 JPG 或 PNG 照片。", "photos") from None
        images.append(img)
    return images


def store_image(img, area):
    """Save a checked image as a resized JPEG plus a thumbnail; returns where."""
    day = local_today()
    rel = f"{area}/{day:%Y}/{day:%m}/{uuid.uuid4().hex}.jpg"
    target = uploads_root() / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    rgb = img.convert("RGB")
    big = rgb.copy()
    big.thumbnail((MAX_SIDE, MAX_SIDE))
    big.save(target, "JPEG", quality=82, optimize=True)
    thumb = rgb.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    thumb.save(uploads_root() / _thumb_name(rel), "JPEG", quality=75)
    return StoredPhoto(rel, big.width, big.height, target.stat().st_size)


def remove_stored(file_names):
    """Delete files written for a save that was rolled back."""
    for rel in file_names:
        for name in (rel, _thumb_name(rel)):
            path = uploads_root() / name
            if path.is_file():
                path.unlink()


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
