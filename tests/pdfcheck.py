"""Helpers for checking PDFs as a reader would: text by pdftotext, pages by pdfinfo, PNGs by pdftoppm."""
import re
import subprocess
import tempfile
from pathlib import Path

ID_RE = re.compile(r"\d{17}[\dXx]")


def pdf_text(pdf: bytes) -> str:
    """The text pdftotext extracts (layout kept)."""
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def pdf_pages(pdf: bytes) -> int:
    """Page count from pdfinfo."""
    out = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))


def render_png(pdf: bytes, out_dir, stem="page", dpi=60):
    """Render every page to PNG (pdftoppm); returns the files, one per page."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
        fh.write(pdf)
        fh.flush()
        subprocess.run(["pdftoppm", "-r", str(dpi), "-png", fh.name, str(out_dir / stem)], check=True)
    return sorted(out_dir.glob(f"{stem}*.png"))


def assert_no_full_id(text: str):
    """No 18-character ID number appears in full."""
    assert not ID_RE.search(text), f"full ID number in PDF text: {ID_RE.search(text).group(0)}"


def check_pdf(pdf: bytes, out_dir, expect_pages=None, must_contain=()):
    """The common checks of a printed document; returns its text."""
    assert pdf[:5] == b"%PDF-"
    text = pdf_text(pdf)
    compact = re.sub(r"\s+", "", text)
    for needle in must_contain:
        assert re.sub(r"\s+", "", needle) in compact, f"{needle!r} not in PDF text"
    assert_no_full_id(text)
    pages = pdf_pages(pdf)
    pngs = render_png(pdf, out_dir)
    assert len(pngs) == pages
    if expect_pages is not None:
        assert pages == expect_pages, f"expected {expect_pages} pages, got {pages}"
    return text


def decode_qr_codes(pdf: bytes, out_dir, dpi=150):
    """The texts of every QR code on the printed pages, decoded from the PDF rendered to PNG (zxing-cpp)."""
    import zxingcpp
    from PIL import Image

    texts = []
    for png in render_png(pdf, out_dir, stem="qr", dpi=dpi):
        with Image.open(png) as img:
            texts.extend(r.text for r in zxingcpp.read_barcodes(img.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode))
    return texts
