"""Photos and helpers for the Faces tests: real photos from tests/support/photos.py, and images made here."""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
from flask.testing import FlaskClient
from PIL import Image

from tests.support.photos import test_photo
from tests.support.web import csrf_token

HTMX = {"HX-Request": "true"}


def photo_bytes(name: str) -> bytes:
    return test_photo(name).read_bytes()


def upload(name: str, data: bytes | None = None) -> tuple[io.BytesIO, str]:
    """A (stream, filename) pair the Flask test client sends as a file field."""
    return io.BytesIO(photo_bytes(name) if data is None else data), name


def gradient_png() -> bytes:
    """A 320 x 240 colour gradient: an image with no face anywhere."""
    horizontal = np.linspace(0, 255, 320, dtype=np.uint8)[np.newaxis, :].repeat(240, axis=0)
    vertical = np.linspace(0, 255, 240, dtype=np.uint8)[:, np.newaxis].repeat(320, axis=1)
    rgb = np.dstack([horizontal, vertical, 255 - horizontal])
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def group_photo() -> bytes:
    """Obama (large, left) and Biden (smaller, right) side by side in one JPEG: two faces, Obama's larger."""
    obama = Image.open(test_photo("obama.jpg")).convert("RGB")
    biden = Image.open(test_photo("biden.jpg")).convert("RGB")
    obama = obama.resize((round(obama.width * 600 / obama.height), 600))
    biden = biden.resize((round(biden.width * 380 / biden.height), 380))
    canvas = Image.new("RGB", (obama.width + biden.width + 40, 600), (230, 230, 230))
    canvas.paste(obama, (0, 0))
    canvas.paste(biden, (obama.width + 40, 110))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def heic_photo(name: str) -> bytes:
    """A real photo re-encoded as HEIC, the format iPhones save (pillow-heif comes with the file library)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    buffer = io.BytesIO()
    Image.open(test_photo(name)).save(buffer, format="HEIF", quality=80)
    return buffer.getvalue()


def compare(client: FlaskClient, first: Any, second: Any, htmx: bool = True, **extra: Any):
    """POST the compare form: each photo an upload (stream, name) or a library file id (int)."""
    data: dict[str, Any] = {"csrf_token": csrf_token(client, "/faces/compare")}
    for slot, photo in (("a", first), ("b", second)):
        if isinstance(photo, int):
            data[f"file_{slot}"] = str(photo)
        elif photo is not None:
            data[f"photo_{slot}"] = photo
    data.update(extra)
    return client.post("/faces/compare", data=data, content_type="multipart/form-data", headers=HTMX if htmx else None)


def analyze(client: FlaskClient, photo: Any):
    data: dict[str, Any] = {"csrf_token": csrf_token(client, "/faces/analyze")}
    if isinstance(photo, int):
        data["file"] = str(photo)
    else:
        data["photo"] = photo
    return client.post("/faces/analyze", data=data, content_type="multipart/form-data", headers=HTMX)


def result_id(html: str, kind: str = "comparison") -> int:
    match = re.search(rf'id="{kind}-(\d+)"', html)
    assert match, f"no {kind} result in the page"
    return int(match.group(1))


def face_boxes(html: str) -> int:
    return len(re.findall(r'<rect class="face-box"', html))
