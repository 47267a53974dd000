"""QR codes for printed documents, as data: URIs (the PDF fetcher reads nothing else)."""
import segno


def qr_data_uri(text, scale=10):
    """An SVG QR code of ``text`` (error correction M, quiet zone kept) as a data: URI."""
    return segno.make(text, error="m", micro=False).svg_data_uri(scale=scale, border=4)
