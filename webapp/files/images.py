"""Derived images: small previews of pictures that `inspect_file` has already accepted."""

from __future__ import annotations

import io
from typing import BinaryIO

from PIL import Image, ImageOps

from .inspection import heif_available

THUMBNAIL_CONTENT_TYPE = "image/webp"
THUMBNAIL_EXTENSION = ".webp"


def make_thumbnail(source: BinaryIO, max_side: int) -> bytes:
    """A WebP no larger than `max_side` on either side, upright, keeping transparency when there is any.

    The EXIF orientation is applied and all metadata (EXIF, GPS position, ICC profile) left out; an
    animated GIF or WebP gives its first frame. Only call this on content `inspect_file` accepted: it
    trusts the pixel count. A stream is read from its current position.
    """
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    heif_available()  # registers the HEIC/HEIF opener with Pillow if pillow-heif is installed
    with Image.open(source) as image:
        # JPEG only: let the decoder scale down by 2, 4 or 8 while decoding, much cheaper for photos.
        # The box is square, so it is the same whichever way the EXIF orientation turns the picture.
        image.draft("RGB", (max_side, max_side))
        upright = ImageOps.exif_transpose(image)  # a copy of the first frame, turned as the camera meant
    # Resampling needs real colour channels (a palette image would be resized with nearest-neighbour), and
    # WebP takes only RGB or RGBA.
    target_mode = "RGBA" if upright.has_transparency_data else "RGB"
    if upright.mode != target_mode:
        upright = upright.convert(target_mode)
    upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    output = io.BytesIO()
    upright.save(output, "WEBP", quality=80, method=4)
    return output.getvalue()
