"""Photos and other images sent from phones: checked, shrunk and stored under instance/.

Files never go into static/: they are served by a view that first checks the
user may see the record they belong to. Re-encoding as JPEG drops the EXIF
block (GPS position, phone model) after applying its rotation.

**Every image is prepared before the view runs.** A step after the login check
(``_prepare_request``) takes each image of a state-changing request — uploaded
files and ``data:image/…`` form values (finger signatures) — checks it from its
header (format, dimensions, and pixels per byte, which a decompression bomb
cannot hide), then decodes it with bounded memory (JPEG at a reduced scale,
at most ``DECODE_BUDGET`` bytes of decoded pixels per process at once) and shrinks
and re-encodes it. That happens outside any database transaction: the step
first ends the one the login check opened, so on SQLite no write lock (on
PostgreSQL no pooled connection) is held while pixels are decoded. Views and
services then ask :func:`image` for the result by the file's content and get
the prepared image or a refusal in Chinese. Public views (the QR intake) count
their rate limit first and then call :func:`prepare_request_images` themselves.
Decoding inside an open transaction is refused in tests (a RuntimeError) and
logged in production, so a path that skips the step cannot go unnoticed.

A file belongs to rows of the database, and is written before those rows are
committed. ``write_with_session`` ties the two: the file is kept when the
session's transaction commits, and deleted when it ends any other way (a refusal
rolled back, a conflict at commit, an error that ends the request), so a failed
save leaves no photo or scan behind without its record.
"""
import base64
import binascii
import hashlib
import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, g, has_app_context, has_request_context, request
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db
from .db import SAFE_METHODS
from .errors import ServiceError
from .files import private_dir, write_private

MB = 1024 * 1024
MAX_PHOTO_BYTES = 10 * MB
MAX_PHOTOS = 6
# A 50-megapixel phone photo (8160×6120) is the largest accepted. Above a normal 12-megapixel
# photo the file must also carry at least one byte per MAX_PIXELS_PER_BYTE pixels: a real photo
# has 1–10 pixels per byte, a decompression bomb (a 7000×7000 PNG in 6 KB) thousands.
MAX_PIXELS = 50_000_000
RATIO_FROM_PIXELS = 12_000_000
MAX_PIXELS_PER_BYTE = 100
MAX_SIDE = 1600
THUMB_SIDE = 360
# Decoded pixels held at once per process (bytes); a larger image waits until it can run alone.
DECODE_BUDGET = 256 * MB
DECODE_WAIT_SECONDS = 60
PHOTO_ACCEPT = "image/jpeg,image/png,image/webp"
PHOTO_HINT = f"最多 {MAX_PHOTOS} 张，每张不超过 {MAX_PHOTO_BYTES // MB} MB（JPG、PNG、WebP）。"

_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"))
# Other images a phone or PC may send, named in the refusal.
_OTHER = ((b"GIF8", "GIF"), (b"BM", "BMP"), (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"))
_DATA_URL = "data:image/"


@dataclass(frozen=True)
class Prepared:
    """An accepted image: its format and size as sent, a shrunk upright JPEG and its thumbnail."""
    format: str
    width: int
    height: int
    jpeg: bytes  # at most MAX_SIDE on the long side, no EXIF
    jpeg_width: int
    jpeg_height: int
    thumb: bytes  # at most THUMB_SIDE
    blank: bool  # nothing drawn: fully transparent, or one opaque colour


@dataclass(frozen=True)
class Refusal:
    """Why an image was refused; the message names the file when it is shown."""
    kind: str  # bytes, format, damaged, pixels, ratio, busy
    status: int
    text: str  # "{name}" stands for the file's name

    def error(self, name, field):
        return ImageRefused(self.text.replace("{name}", name), field, self.kind, self.status)


class ImageRefused(ServiceError):
    """A refused image: a ServiceError with the kind of refusal and the HTTP status the form is shown with."""

    def __init__(self, message, field, kind, status):
        super().__init__(message, field)
        self.kind = kind
        self.status = status


NOT_A_PHOTO = Refusal("format", 422, "文件“{name}”不是照片或已损坏（只接受 JPG、PNG 或 WebP 图片）。")
BUSY = Refusal("busy", 503, "服务器正在处理其他照片，请稍后再提交一次。")


# Checking from the header

def _webp_size(data):
    """The canvas size in a WebP header (Pillow's decoder allocates the canvas as it opens the file)."""
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _sniff(data):
    """The format by the leading bytes (JPEG, PNG, WEBP), or None."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _size_refusal(width, height, nbytes):
    pixels = width * height
    if pixels > MAX_PIXELS:
        return Refusal("pixels", 413, f"照片“{{name}}”的尺寸过大（{width}×{height}），最多 5000 万像素（如 8160×6120），"
                                      "请用手机相机的默认分辨率拍照。")
    if pixels > RATIO_FROM_PIXELS and pixels > nbytes * MAX_PIXELS_PER_BYTE:
        return Refusal("ratio", 422, f"照片“{{name}}”有 {width}×{height} 像素却只有 {max(1, nbytes // 1024)} KB，"
                                     "不是正常拍摄的照片，无法处理。")
    return None


def header_check(data):
    """(format, PIL image opened but not decoded) of an upload, or a Refusal — from the header alone."""
    if not data:
        return Refusal("format", 422, "照片“{name}”是空文件。")
    if len(data) > MAX_PHOTO_BYTES:
        return Refusal("bytes", 413, f"照片“{{name}}”有 {len(data) / MB:.1f} MB，超过 {MAX_PHOTO_BYTES // MB} MB 上限。")
    fmt = _sniff(data)
    if fmt is None:
        other = next((name for magic, name in _OTHER if data.startswith(magic)), None)
        if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
            other = "HEIC/AVIF"
        if other:
            return Refusal("format", 422, f"照片“{{name}}”是 {other} 格式，只接受 JPG、PNG 或 WebP。")
        return NOT_A_PHOTO
    if fmt == "WEBP":
        size = _webp_size(data)
        if size is None:
            return NOT_A_PHOTO
        refusal = _size_refusal(*size, len(data))
        if refusal:
            return refusal
    try:
        img = Image.open(io.BytesIO(data), formats=[fmt])  # JPEG includes MPO, what some cameras write
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own limit, far above ours (a warning only where warnings are errors, as in the tests).
        if fmt == "PNG" and len(data) >= 24:
            return _size_refusal(int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"), len(data))
        return Refusal("pixels", 413, "照片“{name}”的尺寸过大，最多 5000 万像素，请用手机相机的默认分辨率拍照。")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return NOT_A_PHOTO
    return _size_refusal(img.width, img.height, len(data)) or (img.format, img)


# Decoding with bounded memory

class _Budget:
    """Bytes of decoded pixels in use by this process's decodes; callers wait for room."""

    def __init__(self, total):
        self.total = total
        self.used = 0
        self.cond = threading.Condition()

    def acquire(self, cost, timeout):
        cost = min(cost, self.total)
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.used + cost > self.total:
                left = deadline - time.monotonic()
                if left <= 0 or not self.cond.wait(left):
                    if self.used + cost > self.total:
                        return None
            self.used += cost
            return cost

    def release(self, cost):
        with self.cond:
            self.used -= cost
            self.cond.notify_all()


_budget = _Budget(DECODE_BUDGET)


def _check_outside_transaction():
    """Decoding while this request holds a transaction would keep other users' saves waiting."""
    if not has_request_context():
        return

    if db.session().in_transaction():
        message = (f"an image is being decoded inside an open database transaction ({request.method} "
                   f"{request.path}): images must be prepared before the view touches the database")
        if current_app.testing:
            raise RuntimeError(message)
        current_app.logger.warning(message)


_SHRINKABLE = ("RGB", "RGBA", "L", "LA")  # modes that are shrunk as they are (others are converted first)


def _decode(img, fmt):
    """Decode, shrink, turn upright and re-encode an image that passed header_check."""
    _check_outside_transaction()
    width, height = img.size
    if fmt == "JPEG" and max(width, height) > MAX_SIDE:
        scale = MAX_SIDE / max(width, height)  # the JPEG decoder skips detail it would throw away
        img.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
    # Pixels after the JPEG draft, 4 bytes each, twice when the mode must be converted first.
    cost = img.size[0] * img.size[1] * 4 * (1 if img.mode in _SHRINKABLE else 2)
    held = _budget.acquire(cost, DECODE_WAIT_SECONDS)
    if held is None:
        return BUSY
    try:
        img.load()
        if img.mode not in _SHRINKABLE:
            img = img.convert("RGBA" if img.mode in ("P", "PA") else "RGB")
        img.thumbnail((MAX_SIDE, MAX_SIDE))
        ImageOps.exif_transpose(img, in_place=True)
    except (OSError, SyntaxError, ValueError, EOFError):
        return NOT_A_PHOTO
    finally:
        _budget.release(held)
    rgba = img.convert("RGBA")
    alpha_lo, alpha_hi = rgba.getchannel("A").getextrema()
    grey_lo, grey_hi = rgba.convert("L").getextrema()
    blank = alpha_hi == 0 or (alpha_lo == 255 and grey_lo == grey_hi)
    big = img.convert("RGB") if img.mode != "RGB" else img
    jpeg = _jpeg(big, 82)
    small = big.copy()
    small.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return Prepared(fmt, width, height, jpeg, big.width, big.height, _jpeg(small, 75), blank)


def _jpeg(img, quality):
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def prepare(data):
    """Check and decode uploaded bytes: a Prepared image or a Refusal (never an exception)."""
    checked = header_check(data)
    if isinstance(checked, Refusal):
        return checked
    fmt, img = checked
    with img:
        return _decode(img, fmt)


# Before the view: every image of the request

def _key(data):
    return hashlib.blake2b(data, digest_size=16).digest()


def _cache():
    return g.setdefault("_prepared_images", {})


def _request_images():
    """The bytes of every image in the request: uploaded files and data:image/… form values."""
    found = []
    for _, f in request.files.items(multi=True):
        if not getattr(f, "filename", ""):
            continue
        head = f.read(16)
        f.seek(0)
        if _sniff(head):  # other files (a spreadsheet, a PDF scan) are not read here
            found.append(f.read())
            f.seek(0)
    for _, value in request.form.items(multi=True):
        if value.startswith(_DATA_URL) and ";base64," in value[:40]:
            try:
                found.append(base64.b64decode(value.split(",", 1)[1], validate=True))
            except (binascii.Error, ValueError):
                continue
    return found


def prepare_request_images():
    """Prepare the request's images now, outside any transaction (the open one is committed first:
    it holds only what the login check read or touched, or what a public view counted)."""
    images = _request_images()
    if not images or len(images) > MAX_PHOTOS:
        return  # none, or more than any form takes: the view refuses them by number, decoding nothing

    if db.session().in_transaction():
        db.session.commit()
    cache = _cache()
    for data in images:
        key = _key(data)
        if key not in cache:
            cache[key] = prepare(data)


def _prepare_request():
    if request.method in SAFE_METHODS or not request.url_rule:
        return
    view = current_app.view_functions.get(request.url_rule.endpoint)
    if view is None or getattr(view, "is_public", False):
        return  # a public view counts its rate limit first, then calls prepare_request_images()
    prepare_request_images()


def _refusal_status(resp):
    """A form shown again because of a refused image answers with that refusal's status (413/422/503)."""
    status = g.get("_image_refused")
    if status and resp.status_code in (200, 422):
        resp.status_code = status
    return resp


def init_app(app):
    """After the login check (web.init_app registers it first): prepare the request's images."""
    app.before_request(_prepare_request)
    app.after_request(_refusal_status)


def image(data, name, field="photos"):
    """The prepared image of uploaded bytes, or ImageRefused (a ServiceError) saying why not.

    Prepared before the view when the request went through the step above; otherwise
    (the CLI, a service called directly) prepared now.
    """
    cache = _cache() if has_app_context() else {}
    key = _key(data)
    result = cache.get(key)
    if result is None:
        result = cache[key] = prepare(data)
    if isinstance(result, Refusal):
        if has_request_context():
            g._image_refused = result.status
        raise result.error(name, field)
    return result


def check_photos(files, max_photos=MAX_PHOTOS, field="photos"):
    """Read and check uploaded photo files before anything is saved; returns their Prepared images.

    The files are rewound, so a caller may read them again.
    """
    files = [f for f in files if f and getattr(f, "filename", "")]
    if len(files) > max_photos:
        raise ServiceError(f"每次最多上传 {max_photos} 张照片，这次选了 {len(files)} 张。", field)
    images = []
    for f in files:
        data = f.read()
        f.seek(0)
        images.append(image(data, f.filename, field))
    return images


# Documents: a photo or a scan of paper (signed agreements, evidence of a manual score)

DOCUMENT_MAX_BYTES = 10 * MB
DOCUMENT_TYPES = {  # leading bytes → (mime type, extension)
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
    b"%PDF-": ("application/pdf", "pdf"),
}
DOCUMENT_ACCEPT = "image/jpeg,image/png,application/pdf"
DOCUMENT_MIME = {ext: mime for mime, ext in DOCUMENT_TYPES.values()}


def document(data, filename, hint, max_bytes=DOCUMENT_MAX_BYTES, field="file"):
    """(mime type, extension) of an uploaded photo or scan, decided by its content, or ServiceError saying
    why not (``hint``: what the user should upload instead). Images are checked like every photo."""
    if not data:
        raise ServiceError("上传的文件是空的。", field)
    if len(data) > max_bytes:
        raise ServiceError(f"“{filename}”有 {len(data) / 1048576:.1f} MB，超过了 {max_bytes // 1048576} MB 的上限，"
                           "请降低拍照分辨率或分页扫描。", field)
    for magic, (mime, ext) in DOCUMENT_TYPES.items():
        if data.startswith(magic):
            break
    else:
        raise ServiceError(f"“{filename}”不是 JPEG/PNG 图片或 PDF 文件，{hint}", field)
    if mime.startswith("image/"):
        try:
            image(data, filename, field)  # checked and decoded before the view ran
        except ImageRefused as exc:
            if exc.kind in ("format", "damaged"):
                raise ServiceError(f"“{filename}”图片已损坏，无法打开，请重新拍照上传。", field) from None
            raise
    elif b"%%EOF" not in data[-2048:]:
        raise ServiceError(f"“{filename}”PDF 文件不完整，请重新扫描上传。", field)
    return mime, ext


# Files that live and die with the transaction

_PENDING = "pending_files"  # key in Session.info: files written in the open transaction
_DOOMED = "doomed_files"  # files whose rows the open transaction deletes


def _open_session(session):
    session = session or db.session()
    if not session.in_transaction():
        session.begin()  # no database work yet: this only opens the session's transaction, to end with it
    return session


def write_with_session(path, data, session=None):
    """Write ``data`` to a new private file ``path``; it goes away again unless the current transaction commits."""
    session = _open_session(session)
    path = Path(path)
    private_dir(path.parent)
    write_private(path, data)
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
