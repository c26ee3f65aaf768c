"""Content inspection and thumbnails, on files made here with Pillow (and by hand where Pillow cannot help)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from tests.support.samples import BLUE, RED, encode, minimal_pdf, picture, png_header_only_bomb, sideways_jpeg
from webapp.errors import Refused
from webapp.files.images import make_thumbnail
from webapp.files.inspection import FileInfo, heif_available, inspect_file, supported_types

MAX_PIXELS = 50_000_000
ALLOWED = set(supported_types())


@pytest.fixture(scope="session")
def huge_png() -> bytes:
    return png_header_only_bomb(20_000, 20_000)


def inspect_bytes(
    data: bytes, filename_hint: str | None = None, allowed: set[str] = ALLOWED, max_pixels: int = MAX_PIXELS
) -> FileInfo:
    return inspect_file(io.BytesIO(data), allowed, max_pixels, filename_hint=filename_hint)


def refusal(data: bytes, filename_hint: str | None = None, **options: object) -> Refused:
    with pytest.raises(Refused) as caught:
        inspect_bytes(data, filename_hint, **options)
    return caught.value


# --- accepted ---


@pytest.mark.parametrize(
    ("format", "content_type", "extension"),
    [
        ("JPEG", "image/jpeg", ".jpg"),
        ("PNG", "image/png", ".png"),
        ("WEBP", "image/webp", ".webp"),
        ("GIF", "image/gif", ".gif"),
    ],
)
def test_images_are_recognised_from_their_bytes(format: str, content_type: str, extension: str) -> None:
    # The misleading name changes nothing.
    info = inspect_bytes(encode(picture((64, 48)), format), filename_hint="document.pdf")
    assert info == FileInfo(content_type, "image", 64, 48, extension)


@pytest.mark.skipif(not heif_available(), reason="pillow-heif is not installed")
def test_heic_is_recognised_when_pillow_heif_is_available() -> None:
    info = inspect_bytes(encode(picture((64, 48)), "HEIF"))
    assert info == FileInfo("image/heic", "image", 64, 48, ".heic")


def test_pdf_is_accepted() -> None:
    assert inspect_bytes(minimal_pdf(), "scan.pdf") == FileInfo("application/pdf", "document", extension=".pdf")


def test_text_is_accepted() -> None:
    info = inspect_bytes("Grüße aus Köln\r\nsecond line\tand a tab\n".encode(), "notes.txt")
    assert info == FileInfo("text/plain", "document", extension=".txt")


def test_long_text_is_checked_beyond_the_first_block() -> None:
    # A multi-byte character straddles the 64 KiB sniffing boundary and the 1 MiB reading chunks.
    text = ("a" * 65_535 + "é" + "line of text\n" * 100_000).encode()
    assert inspect_bytes(text).content_type == "text/plain"
    refused = refusal(text + b"\x00\x01\x02binary tail")
    assert "not an allowed type" in refused.message


@pytest.mark.parametrize(
    ("content", "hint", "content_type"),
    [
        (b'name,age\nAda,36\n"Lovelace, Ada","36"\n', "people.csv", "text/csv"),
        (b"name;age\nAda;36\nGrace;85\n", "PEOPLE.CSV", "text/csv"),  # semicolons, as European Excel writes
        (b"\xef\xbb\xbfname\tage\nAda\t36\n", "people.csv", "text/csv"),  # BOM and tabs
        (b"names\nAda\nGrace\n", "names.csv", "text/csv"),  # one column
        (b"name,age\nAda,36\n", None, "text/plain"),  # CSV-looking text without a .csv name stays text
        (b"name,age\nAda,36,extra\nGrace\n", "people.csv", "text/plain"),  # ragged rows are not CSV
    ],
)
def test_csv_needs_a_csv_name_and_consistent_columns(content: bytes, hint: str | None, content_type: str) -> None:
    info = inspect_bytes(content, hint)
    assert info.content_type == content_type and info.kind == "document"


def test_csv_only_allowed_refuses_plain_text() -> None:
    refused = refusal(b"just a sentence, with a comma\nand another line\n", "x.txt", allowed={"text/csv"})
    assert refused.message == "This file is not an allowed type (it is plain text). Allowed: CSV."


def test_stream_is_left_where_it_was_and_paths_work(tmp_path: Path) -> None:
    data = encode(picture(), "PNG")
    stream = io.BytesIO(b"prefix" + data)
    stream.seek(6)
    assert inspect_file(stream, ALLOWED, MAX_PIXELS).content_type == "image/png"
    assert stream.tell() == 6
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    assert inspect_file(path, ALLOWED, MAX_PIXELS).content_type == "image/png"


# --- refused ---


@pytest.mark.parametrize(
    ("content", "description"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200, "it looks like a Windows executable"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200, "it looks like a Linux executable"),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 200, "it looks like a macOS executable"),
        (b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 200, "it looks like a ZIP archive"),
        (b"<!DOCTYPE html><html><body>hello</body></html>", "it looks like a web page (HTML)"),
        (b"  <script>alert(document.cookie)</script>", "it looks like a web page (HTML)"),
        (b"Dear reader,\n\nplease open <iframe src=//evil.example>\n", "it looks like a web page (HTML)"),
        (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>',
            "it looks like an SVG drawing",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>', "it looks like an SVG drawing"),
        ("Grüße".encode("utf-16"), "it looks like UTF-16 text (save it as UTF-8)"),
        ("Grüße aus Köln".encode("latin-1"), "it looks like text in an encoding other than UTF-8"),
    ],
)
def test_disguised_files_are_refused_whatever_their_name(content: bytes, description: str) -> None:
    refused = refusal(content, filename_hint="holiday.jpg")
    assert refused.message.startswith(f"This file is not an allowed type ({description}")
    assert refused.message.endswith(
        "Allowed: JPEG, PNG, WebP, GIF, HEIC, HEIF, PDF, plain text, CSV, Word."
        if heif_available()
        else "Allowed: JPEG, PNG, WebP, GIF, PDF, plain text, CSV, Word."
    )
    assert refused.status == 422


def test_allowed_list_is_respected() -> None:
    refused = refusal(encode(picture(), "PNG"), allowed={"image/jpeg", "application/pdf"})
    assert refused.message == "This file is not an allowed type (it is a PNG file). Allowed: JPEG, PDF."


def test_unknown_allowed_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        inspect_bytes(b"hello", allowed={"image/svg+xml"})


def test_empty_file_is_refused() -> None:
    refused = refusal(b"")
    assert refused.message == "The file is empty."
    assert refused.status == 400


@pytest.mark.parametrize(("format", "keep"), [("JPEG", 0.6), ("PNG", 0.6), ("WEBP", 0.6), ("GIF", 0.5)])
def test_truncated_images_are_refused(format: str, keep: float) -> None:
    data = encode(picture((256, 256)), format)
    refused = refusal(data[: int(len(data) * keep)])
    assert refused.message == "This image is damaged or incomplete."
    assert refused.status == 422


def test_corrupted_png_is_refused() -> None:
    data = bytearray(encode(picture((128, 128)), "PNG"))
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside IDAT: the chunk's CRC no longer matches
    assert refusal(bytes(data)).message == "This image is damaged or incomplete."


def test_truncated_image_is_refused_even_if_someone_lets_pillow_pad_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode(picture((256, 256)), "JPEG")
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        inspect_bytes(data[: len(data) // 2])


def test_pdf_without_its_end_is_refused() -> None:
    data = minimal_pdf()
    assert refusal(data[: len(data) - 20]).message == "This PDF is damaged or incomplete."


class PixelsDecoded(BaseException):
    """Raised instead of decoding; a BaseException so no `except Exception` on the way can swallow it."""


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse_to_decode(self: ImageFile.ImageFile) -> None:
        raise PixelsDecoded()

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_decode)


def test_huge_image_is_refused_before_decoding(huge_png: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(huge_png) < 1_000_000
    forbid_decoding(monkeypatch)
    with pytest.raises(PixelsDecoded):  # the guard works: an acceptable image does get decoded
        inspect_bytes(encode(picture(), "PNG"))
    refused = refusal(huge_png)
    assert refused.message == "This image is too large (20000 × 20000 pixels; the limit is 50 megapixels)."
    assert refused.status == 413


def test_image_over_our_limit_but_under_pillows_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    # 60 megapixels: under Pillow's own guard (89 million), over the app's limit.
    data = png_header_only_bomb(10_000, 6_000)
    forbid_decoding(monkeypatch)
    refused = refusal(data)
    assert refused.message == "This image is too large (10000 × 6000 pixels; the limit is 50 megapixels)."


def test_pixel_limit_is_the_callers() -> None:
    refused = refusal(encode(picture((64, 48)), "PNG"), max_pixels=2_500_000 // 1000)
    assert refused.message == "This image is too large (64 × 48 pixels; the limit is 0.0025 megapixels)."


# --- orientation and thumbnails ---


def close_to(pixel: tuple[int, ...], color: tuple[int, int, int]) -> bool:
    return all(abs(channel - expected) < 40 for channel, expected in zip(pixel[:3], color, strict=True))


def test_exif_orientation_swaps_the_reported_size() -> None:
    assert inspect_bytes(sideways_jpeg()) == FileInfo("image/jpeg", "image", 20, 40, ".jpg")


def test_thumbnail_is_turned_upright() -> None:
    thumbnail = Image.open(io.BytesIO(make_thumbnail(io.BytesIO(sideways_jpeg()), max_side=320)))
    assert thumbnail.format == "WEBP"
    assert thumbnail.size == (20, 40)
    rgb = thumbnail.convert("RGB")
    # Turned clockwise, the stored left (red) half is now on top.
    assert close_to(rgb.getpixel((10, 5)), RED)
    assert close_to(rgb.getpixel((10, 35)), BLUE)
    assert not thumbnail.getexif()  # no metadata (and so no GPS position) is carried over


def test_thumbnail_fits_the_requested_box() -> None:
    data = encode(picture((1000, 500)), "JPEG")
    thumbnail = Image.open(io.BytesIO(make_thumbnail(io.BytesIO(data), max_side=320)))
    assert thumbnail.size == (320, 160)
    assert thumbnail.mode == "RGB"


def test_thumbnail_keeps_transparency() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((0, 128, 0, 255), (25, 25, 75, 75))
    thumbnail = Image.open(io.BytesIO(make_thumbnail(io.BytesIO(encode(image, "PNG")), max_side=50)))
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((2, 2))[3] == 0
    assert thumbnail.getpixel((25, 25))[3] == 255


def test_thumbnail_of_palette_image_with_transparency() -> None:
    image = Image.new("P", (60, 60), 0)
    image.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    image.paste(1, (20, 20, 40, 40))
    data = encode(image, "GIF", transparency=0)
    thumbnail = Image.open(io.BytesIO(make_thumbnail(io.BytesIO(data), max_side=320)))
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((5, 5))[3] == 0
    assert close_to(thumbnail.getpixel((30, 30)), (200, 0, 0))


def test_thumbnail_of_animated_gif_is_its_first_frame() -> None:
    frames = [Image.new("RGB", (80, 60), RED), Image.new("RGB", (80, 60), BLUE)]
    output = io.BytesIO()
    frames[0].save(output, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert inspect_bytes(output.getvalue()) == FileInfo("image/gif", "image", 80, 60, ".gif")
    thumbnail = Image.open(io.BytesIO(make_thumbnail(io.BytesIO(output.getvalue()), max_side=320)))
    assert getattr(thumbnail, "n_frames", 1) == 1
    assert close_to(thumbnail.convert("RGB").getpixel((40, 30)), RED)


@pytest.mark.skipif(not heif_available(), reason="pillow-heif is not installed")
def test_thumbnail_of_heic() -> None:
    thumbnail = Image.open(io.BytesIO(make_thumbnail(io.BytesIO(encode(picture((640, 480)), "HEIF")), max_side=320)))
    assert thumbnail.format == "WEBP" and thumbnail.size == (320, 240)


@pytest.mark.skipif(not heif_available(), reason="pillow-heif is not installed")
def test_heic_orientation_is_applied_once() -> None:
    # pillow-heif hands out HEIC pixels already turned and resets the EXIF tag, so nothing may turn them again.
    image = Image.new("RGB", (40, 20), BLUE)
    image.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(image, "HEIF", exif=exif.tobytes(), quality=90)
    assert inspect_bytes(data) == FileInfo("image/heic", "image", 20, 40, ".heic")
    thumbnail = Image.open(io.BytesIO(make_thumbnail(io.BytesIO(data), max_side=320))).convert("RGB")
    assert thumbnail.size == (20, 40)
    assert close_to(thumbnail.getpixel((10, 5)), RED) and close_to(thumbnail.getpixel((10, 35)), BLUE)
