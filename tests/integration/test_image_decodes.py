"""Full image decodes are bounded per process (issue 10, point 4): an image waits for one of
IMAGE_DECODE_CONCURRENCY slots, up to IMAGE_DECODE_WAIT_SECONDS, then is refused with 503 and Retry-After.
The tests take the app's own slots, as other requests' decodes would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from flask import Flask

from tests.support.faces import analyze
from tests.support.files import (  # noqa: F401  (fixtures)
    api_upload,
    assert_nothing_written,
    backend,
    bucket,
    row_count,
    upload,
)
from tests.support.samples import jpeg
from webapp.extensions import db
from webapp.faces.models import FaceAnalysis
from webapp.files.decoding import BUSY_MESSAGE, DecodeSlots, ImageDecodeBusy

BUSY = BUSY_MESSAGE.format(seconds="0.2")


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"IMAGE_DECODE_CONCURRENCY": 2, "IMAGE_DECODE_WAIT_SECONDS": 0.2}


@contextmanager
def slots_taken(app: Flask, count: int) -> Iterator[None]:
    """`count` of the app's decode slots held, as decodes in other requests would hold them."""
    with ExitStack() as stack:
        for _ in range(count):
            stack.enter_context(app.extensions["image_decodes"].slot())
        yield


def test_an_image_upload_takes_a_free_slot(app: Flask, staff_client):
    with slots_taken(app, 1):
        assert upload(staff_client, ("photo.jpg", jpeg()), htmx=True).status_code == 201


def test_an_image_waits_for_a_slot_then_is_refused_with_503_and_retry_after(app: Flask, staff_client, staff_token):
    with slots_taken(app, 2):
        page = upload(staff_client, ("photo.jpg", jpeg()), htmx=True)
        api = api_upload(staff_client, staff_token, "photo.jpg", jpeg())

    assert page.status_code == 503 and page.headers["Retry-After"] == "1"
    assert BUSY in page.get_data(as_text=True)
    assert api.status_code == 503 and api.headers["Retry-After"] == "1"
    assert api.get_json() == {"error": BUSY, "status": 503}
    assert_nothing_written(app)


def test_documents_never_wait_for_an_image_slot(app: Flask, staff_client):
    with slots_taken(app, 2):
        response = upload(staff_client, ("notes.txt", b"a note\n"), htmx=True)

    assert response.status_code == 201 and row_count(app) == 1


def test_a_face_job_waits_for_a_slot_then_fails_with_503_and_the_reason(app: Flask, staff_client):
    assert upload(staff_client, ("photo.jpg", jpeg()), htmx=True).status_code == 201
    with slots_taken(app, 2):
        response = analyze(staff_client, 1)

    assert response.status_code == 503 and BUSY in response.get_data(as_text=True)
    with app.app_context():
        job = db.session.get(FaceAnalysis, 1)
        assert (job.status, job.error_status, job.error) == ("failed", 503, BUSY)


def test_slots_are_given_back_and_bounded() -> None:
    slots = DecodeSlots(limit=1, wait_seconds=0)
    with slots.slot(), pytest.raises(ImageDecodeBusy) as refused, slots.slot():
        pass
    with slots.slot():  # given back after use, and after a refusal
        pass
    assert refused.value.status == 503 and refused.value.retry_after == 1


def test_only_a_decode_that_must_wait_gives_back_what_it_holds_first() -> None:
    slots = DecodeSlots(limit=1, wait_seconds=0)
    given_back: list[str] = []

    with (
        slots.slot(before_waiting=lambda: given_back.append("free slot")),
        pytest.raises(ImageDecodeBusy),
        slots.slot(before_waiting=lambda: given_back.append("waited")),
    ):
        pass

    assert given_back == ["waited"]
