"""Files made here for the tests: small real images, a PDF, a decompression bomb. Nothing is downloaded."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def picture(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A picture with real detail (noise over a gradient), so compressed files have substantial pixel data."""
    noise = Image.effect_noise(size, 40)
    gradient = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (noise, gradient, Image.eval(noise, lambda value: 255 - value)))


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    output = io.BytesIO()
    image.save(output, format, **options)
    return output.getvalue()


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    return encode(picture(size), "JPEG", quality=85)


def sideways_jpeg() -> bytes:
    """40 x 20 as stored, red left half and blue right half, with EXIF orientation 6 ("turn 90° clockwise")."""
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)


def minimal_pdf() -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    document = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(document))
        document += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_offset = len(document)
    document += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        document += b"%010d 00000 n \n" % offset
    document += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_offset)
    return bytes(document)


def png_header_only_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height, all black, built row block by row block.

    Pillow would need width*height bytes to decode it; building it needs one block of rows in memory and
    zlib squeezes the zeros to a few kilobytes per 100 megapixels.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte "none" + packed pixels
    rows_per_block = 500
    compressor = zlib.compressobj(9)
    compressed = []
    for first_row in range(0, height, rows_per_block):
        compressed.append(compressor.compress(row * min(rows_per_block, height - first_row)))
    compressed.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(compressed)) + chunk(b"IEND", b"")


# A Windows program's first bytes: "MZ", a DOS stub, then padding, as a renamed .exe would start.
EXECUTABLE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + b"This program cannot be run in DOS mode."
)
HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG_DRAWING = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="5"/></svg>'
