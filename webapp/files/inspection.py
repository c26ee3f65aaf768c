"""What an uploaded file really is, decided from its bytes, never from its name or the browser's claim.

`inspect_file` accepts a file only when its content proves the type: images must fully decode, PDFs must
have their header and end marker, text must be valid UTF-8 throughout. Everything else is refused with a
sentence a person can act on.

Why a small signature table rather than a sniffing library: acceptance is decided by actually decoding
(Pillow, the UTF-8 decoder), so a library would only name the refused formats. A dozen well-known magic
numbers cover what people actually upload by mistake or malice, with no dependency to keep current.

CSV: text is CSV when the name hint ends in ".csv" and the first 64 KiB parse as CSV with the same number
of columns on every row. Otherwise it is plain text. The name can only choose between these two text
types, both served the same way; it never makes binary data acceptable.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
import re
import struct
import zipfile
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO, Literal

from PIL import ExifTags, Image, ImageFile

from webapp.errors import Refused, ServiceError
from webapp.units import MEGABYTE

# Entered around each full decode (webapp/files/decoding.py bounds how many run at once).
DecodeSlot = Callable[[], AbstractContextManager[object]]

log = logging.getLogger("webapp.files.inspection")

__all__ = [
    "DOCX",
    "FILE_TYPES",
    "KNOWN_TYPES",
    "FileInfo",
    "FileType",
    "Refused",
    "heif_available",
    "inspect_file",
    "supported_types",
]

SNIFF_BYTES = 64 * 1024
READ_CHUNK = MEGABYTE

EMPTY_MESSAGE = "The file is empty."
DAMAGED_IMAGE_MESSAGE = "This image is damaged or incomplete."
DAMAGED_PDF_MESSAGE = "This PDF is damaged or incomplete."

# Refusals carry an HTTP status for webapp.errors: 422 for content we understood and will not take,
# 413 for an image whose pixel count is over the limit.
STATUS_UNPROCESSABLE = 422
STATUS_TOO_LARGE = 413


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class FileType:
    content_type: str
    label: str  # what a person calls it: "JPEG", "plain text"
    extension: str  # canonical suffix for storage keys and download names
    kind: Literal["image", "document"]
    pillow_format: str | None = None


FILE_TYPES: dict[str, FileType] = {
    file_type.content_type: file_type
    for file_type in (
        FileType("image/jpeg", "JPEG", ".jpg", "image", "JPEG"),
        FileType("image/png", "PNG", ".png", "image", "PNG"),
        FileType("image/webp", "WebP", ".webp", "image", "WEBP"),
        FileType("image/gif", "GIF", ".gif", "image", "GIF"),
        FileType("image/heic", "HEIC", ".heic", "image", "HEIF"),
        FileType("image/heif", "HEIF", ".heif", "image", "HEIF"),
        FileType("application/pdf", "PDF", ".pdf", "document"),
        FileType("text/plain", "plain text", ".txt", "document"),
        FileType("text/csv", "CSV", ".csv", "document"),
        FileType(DOCX, "Word", ".docx", "document"),
    )
}
HEIF_TYPES = frozenset({"image/heic", "image/heif"})


@lru_cache(maxsize=1)
def heif_available() -> bool:
    """Whether HEIC/HEIF can be decoded: pillow-heif is installed and registered with Pillow (done here)."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return "HEIF" in Image.OPEN


def supported_types() -> frozenset[str]:
    """Every content type `inspect_file` can accept on this installation."""
    if heif_available():
        return frozenset(FILE_TYPES)
    return frozenset(FILE_TYPES) - HEIF_TYPES


KNOWN_TYPES = frozenset(FILE_TYPES)  # every type this module knows; `supported_types()` says which decode here


@dataclass(frozen=True)
class FileInfo:
    """What the content turned out to be. Width and height are as displayed (after EXIF rotation)."""

    content_type: str
    kind: Literal["image", "document"]
    width: int | None = None
    height: int | None = None
    extension: str = ""


# --- recognising bytes ---

# Formats that are refused, by their first bytes, only to name them in the refusal. Checked after the text
# test, so a text file that happens to begin with "MZ" or "BM" is still text.
_DESCRIPTIONS: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable"),
    (b"\xfe\xed\xfa\xce", "a macOS executable"),
    (b"\xfe\xed\xfa\xcf", "a macOS executable"),
    (b"\xce\xfa\xed\xfe", "a macOS executable"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable"),
    (b"\xca\xfe\xba\xbe", "a macOS executable or Java class file"),
    (b"\x00asm", "a WebAssembly program"),
    (b"dex\n", "an Android program"),
    (b"PK\x03\x04", "a ZIP archive (Word, Excel and PowerPoint files are ZIP archives too)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x00\x00\x01\x00", "an icon file"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio or video file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x1aE\xdf\xa3", "a WebM or Matroska video"),
    (b"\xff\xfe", "UTF-16 text (save it as UTF-8)"),
    (b"\xfe\xff", "UTF-16 text (save it as UTF-8)"),
)

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_BRANDS = {b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}

# Markup a browser would render or run if the file were ever served inline. WHATWG MIME sniffing treats a
# text file starting with these tags as HTML; the second list is refused wherever it appears in the sample.
_HTML_START = re.compile(
    rb"\s*<(!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[\s>]",
    re.IGNORECASE,
)
_XML_START = re.compile(rb"\s*<\?xml", re.IGNORECASE)
_SVG_ANYWHERE = re.compile(rb"<svg[\s>]", re.IGNORECASE)
_ACTIVE_MARKUP = re.compile(rb"<(script|iframe|html|object|embed|frameset)[\s>/]", re.IGNORECASE)

# Control characters that never occur in text people write; tab, newlines, form feed and ESC (colour codes
# in logs) are allowed.
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def _iso_brands(head: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO base media file (HEIF, AVIF, MP4), or an empty set."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return set()
    box_size = struct.unpack(">I", head[0:4])[0]
    end = min(max(box_size, 16), len(head), 4096)
    brands = {head[8:12]}
    brands.update(head[offset : offset + 4] for offset in range(16, end - 3, 4))
    return brands


def _sniff_binary(head: bytes) -> str | None:
    """The content type of a format we accept, from its signature; None if it is not one of them."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[0:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    brands = _iso_brands(head)
    if brands & _AVIF_BRANDS:
        return None
    if brands & _HEIC_BRANDS:
        return "image/heic"
    if brands & _HEIF_BRANDS:
        return "image/heif"
    return None


def _describe(head: bytes) -> str:
    """Words for a refused format, as in "it looks like a Windows executable"."""
    for signature, description in _DESCRIPTIONS:
        if head.startswith(signature):
            return f"it looks like {description}"
    brands = _iso_brands(head)
    if brands & _AVIF_BRANDS:
        return "it looks like an AVIF image"
    if brands:
        return "it looks like a video or audio file"
    if head[:4] == b"RIFF":
        return "it looks like a WAV or AVI file"
    if b"\x00" not in head[:4096]:
        sample = head[:4096].decode("latin-1")
        if not _BINARY_CONTROL.search(sample):
            return "it looks like text in an encoding other than UTF-8 (save it as UTF-8)"
    return "its format was not recognised"


def _describe_markup(head: bytes) -> str | None:
    """Words for text that a browser would treat as a page or a drawing, or None for harmless text."""
    sample = head.lstrip(b"\xef\xbb\xbf")
    if _SVG_ANYWHERE.search(sample):
        return "it looks like an SVG drawing"
    if _HTML_START.match(sample) or _ACTIVE_MARKUP.search(sample):
        return "it looks like a web page (HTML)"
    if _XML_START.match(sample):
        return "it looks like an XML document"
    return None


# --- the checks ---


def _not_allowed(description: str, allowed: Iterable[str]) -> Refused:
    labels: list[str] = []
    for content_type, file_type in FILE_TYPES.items():
        if content_type in allowed and file_type.label not in labels:
            labels.append(file_type.label)
    return Refused(
        f"This file is not an allowed type ({description}). Allowed: {', '.join(labels) or 'none'}.",
        status=STATUS_UNPROCESSABLE,
    )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g} megapixels"


def _too_large(width: int, height: int, max_pixels: int) -> Refused:
    return Refused(
        f"This image is too large ({width} × {height} pixels; the limit is {_megapixels(max_pixels)}).",
        status=STATUS_TOO_LARGE,
    )


def _header_size(stream: BinaryIO, start: int, pillow_format: str) -> tuple[int, int] | None:
    """Width and height from the header alone, skipping Pillow's own decompression-bomb guard.

    Image.open refuses pictures over 2 x Image.MAX_IMAGE_PIXELS before returning them, so their size is
    otherwise unknown. The registered format factory parses only the header; if that ever fails, the
    refusal simply goes without the dimensions.
    """
    try:
        factory, _accept = Image.OPEN[pillow_format]
        stream.seek(start)
        image = factory(stream, "")
        return image.size
    except Exception:
        return None


def _inspect_image(
    stream: BinaryIO, start: int, file_type: FileType, max_pixels: int, decode_slot: DecodeSlot
) -> FileInfo:
    assert file_type.pillow_format is not None
    formats = [file_type.pillow_format]
    # LOAD_TRUNCATED_IMAGES must stay False, or load() would quietly pad a cut-off image with grey.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; truncated images would pass as whole")

    # 1. Header only: the pixel count is checked before a single pixel is decoded.
    stream.seek(start)
    try:
        with Image.open(stream, formats=formats) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_large(width, height, max_pixels)
            # verify() checks structure without decoding pixels (PNG chunk CRCs, for instance).
            image.verify()
    except Refused:
        raise
    except Image.DecompressionBombError:
        size = _header_size(stream, start, file_type.pillow_format)
        if size is None:
            raise Refused(
                f"This image is too large (the limit is {_megapixels(max_pixels)}).", status=STATUS_TOO_LARGE
            ) from None
        raise _too_large(size[0], size[1], max_pixels) from None
    except MemoryError:
        raise
    except Exception as error:
        # UnidentifiedImageError, OSError, SyntaxError, struct.error…: Pillow's ways of saying "broken".
        log.info("image refused as damaged: %r", error)
        raise Refused(DAMAGED_IMAGE_MESSAGE, status=STATUS_UNPROCESSABLE) from None

    # 2. A fresh open (verify() leaves the image unusable) and a full decode of the first frame: this is
    # what catches a file cut off in the middle of its pixel data.
    stream.seek(start)
    try:
        with decode_slot(), Image.open(stream, formats=formats) as image:
            image.load()
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except ServiceError:
        raise  # no decode slot came free: the caller answers 503
    except MemoryError:
        raise
    except Exception as error:
        log.info("image refused as damaged: %r", error)
        raise Refused(DAMAGED_IMAGE_MESSAGE, status=STATUS_UNPROCESSABLE) from None

    # Orientations 5 to 8 turn the picture a quarter: it is displayed with width and height exchanged.
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return FileInfo(file_type.content_type, "image", width, height, file_type.extension)


def _check_pdf(stream: BinaryIO, start: int, size: int) -> None:
    # Readers look for "%%EOF" in the last kilobyte; a PDF cut off during upload has none.
    stream.seek(start + max(0, size - 1024))
    if b"%%EOF" not in stream.read(1024):
        raise Refused(DAMAGED_PDF_MESSAGE, status=STATUS_UNPROCESSABLE)


def _is_docx(stream: BinaryIO, start: int) -> bool:
    """Whether the ZIP archive is a Word document: its central directory names the document part.

    Only the directory is read (no member is unpacked), so a ZIP bomb costs nothing here; reading its text later
    happens in a child process with a memory limit (webapp/attachments/extraction.py).
    """
    stream.seek(start)
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return "word/document.xml" in names and "[Content_Types].xml" in names


def _is_utf8_text(stream: BinaryIO, start: int) -> bool:
    """Whether the whole stream is UTF-8 with no control characters that only binary data contains."""
    stream.seek(start)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        while chunk := stream.read(READ_CHUNK):
            if _BINARY_CONTROL.search(decoder.decode(chunk)):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _is_consistent_csv(head: bytes, truncated: bool) -> bool:
    """Whether the sample parses as CSV with the same number of columns on every row.

    Comma, semicolon (European spreadsheets) and tab are tried. A file with none of them is a valid
    one-column CSV; a file whose rows split into differing column counts under every delimiter is not.
    """
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    if truncated:
        # Only whole lines: the sample may end in the middle of a row.
        text = text[: text.rfind("\n") + 1]
    single_column = True
    for delimiter in (",", ";", "\t"):
        try:
            rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
        except csv.Error:
            return False
        if truncated and len(rows) > 1:
            rows.pop()  # a quoted field with line breaks may still have been cut short
        if not rows:
            return False
        counts = {len(row) for row in rows}
        if counts == {1}:
            continue
        single_column = False
        if len(counts) == 1:
            return True
    return single_column


class _Window(io.RawIOBase):
    """The bytes of `stream` from `offset` on, as a stream of its own whose position 0 is at `offset`."""

    def __init__(self, stream: BinaryIO, offset: int) -> None:
        super().__init__()
        self._stream = stream
        self._offset = offset

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._stream.tell() - self._offset

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._stream.seek(self._offset + max(0, position))
        else:
            self._stream.seek(position, whence)
        return self.tell()

    def read(self, size: int | None = -1) -> bytes:
        return self._stream.read(-1 if size is None else size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _stream_size(stream: BinaryIO, start: int) -> int:
    end = stream.seek(0, os.SEEK_END)
    stream.seek(start)
    return end - start


def inspect_file(
    source: str | os.PathLike[str] | BinaryIO,
    allowed_types: set[str] | frozenset[str],
    max_pixels: int,
    filename_hint: str | None = None,
    decode_slot: DecodeSlot = nullcontext,
) -> FileInfo:
    """Decide what `source` is from its content and accept it only if it is one of `allowed_types`.

    `source` is a path or a seekable binary stream; a stream is read from its current position and left at
    that position afterwards, ready to be saved. `filename_hint` only decides CSV versus plain text.
    Images must fully decode and have at most `max_pixels` pixels (checked from the header, before decoding);
    the full decode runs inside `decode_slot()` (the app bounds decodes at once per process with it).
    Raises Refused with a sentence for a person; raises ValueError for an unknown type in `allowed_types`.
    """
    unknown = set(allowed_types) - KNOWN_TYPES
    if unknown:
        raise ValueError(f"unknown content types {sorted(unknown)}; known: {sorted(KNOWN_TYPES)}")
    allowed = set(allowed_types) & supported_types()

    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            return _inspect_stream(handle, allowed, max_pixels, filename_hint, decode_slot)
    if not source.seekable():
        raise ValueError("inspect_file needs a path or a seekable stream")
    start = source.tell()
    try:
        # Pillow always seeks to 0 before reading a header, so content further in needs a window onto it.
        view = _Window(source, start) if start else source
        return _inspect_stream(view, allowed, max_pixels, filename_hint, decode_slot)
    finally:
        source.seek(start)


def _inspect_stream(
    stream: BinaryIO, allowed: set[str], max_pixels: int, filename_hint: str | None, decode_slot: DecodeSlot
) -> FileInfo:
    start = stream.tell()
    size = _stream_size(stream, start)
    if size == 0:
        raise Refused(EMPTY_MESSAGE)
    head = stream.read(SNIFF_BYTES)

    content_type = _sniff_binary(head)
    if content_type is None and head.startswith(b"PK\x03\x04") and _is_docx(stream, start):
        content_type = DOCX
    if content_type is not None:
        if content_type not in allowed:
            raise _not_allowed(f"it is a {FILE_TYPES[content_type].label} file", allowed)
        file_type = FILE_TYPES[content_type]
        if file_type.kind == "image":
            return _inspect_image(stream, start, file_type, max_pixels, decode_slot)
        if content_type == "application/pdf":
            _check_pdf(stream, start, size)
        return FileInfo(content_type, "document", extension=file_type.extension)

    if not _is_utf8_text(stream, start):
        raise _not_allowed(_describe(head), allowed)
    markup = _describe_markup(head)
    if markup is not None:
        raise _not_allowed(markup, allowed)

    names_csv = bool(filename_hint) and filename_hint.lower().endswith(".csv")
    if names_csv and "text/csv" in allowed and _is_consistent_csv(head, truncated=size > len(head)):
        content_type = "text/csv"
    elif "text/plain" in allowed:
        content_type = "text/plain"
    else:
        raise _not_allowed("it is plain text", allowed)
    return FileInfo(content_type, "document", extension=FILE_TYPES[content_type].extension)
