"""Faces over JSON: the same service as the pages.

POST /api/face/verify   multipart `image1`, `image2` (files, or `image1_id`, `image2_id`), or JSON {"image1": id, ...}
POST /api/face/analyze  multipart `image` (or `image_id`), or JSON {"image": file id}
GET  /api/face/verify/<id>, /api/face/analyze/<id>   a result (poll these while a worker computes it: 202)
A finished job answers 200; no face 422, unreadable photo 400, engine or worker unavailable 503, each as
{"error", "status", ...the result so far}.
"""

from __future__ import annotations

from flask import url_for

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import Answer, operation
from webapp.faces import service
from webapp.faces.models import FAILED
from webapp.faces.models import FaceAnalysis as AnalysisRow
from webapp.faces.models import FaceComparison as ComparisonRow
from webapp.faces.schemas import (
    FaceAnalysis,
    FaceComparison,
    FaceJobFailure,
    Photo,
    PhotoForm,
    PhotoPair,
    PhotoPairForm,
)
from webapp.files.uploads import accepts_uploads

# A failed job answers the status its reason deserves, with the result so far.
FAILURES: tuple[Answer, ...] = tuple((status, FaceJobFailure) for status in (400, 409, 413, 422, 500, 503))


def result_answers(schema: type[FaceComparison | FaceAnalysis], started: str) -> tuple[Answer, ...]:
    return (
        (200, schema, "The finished result."),
        (202, schema, f"{started}: poll the `Location` until it answers 200."),
        *FAILURES,
        404,
    )


def respond(row: ComparisonRow | AnalysisRow):
    status = service.result_status(row)
    if row.status == FAILED:
        return FaceJobFailure.of(row, status), status
    if row.kind == "comparison":
        body, endpoint = FaceComparison.of(row), "api.face_verify_result"
    else:
        body, endpoint = FaceAnalysis.of(row), "api.face_analyze_result"
    return body, status, ({"Location": url_for(endpoint, row_id=row.id)} if status == 202 else {})


@bp.post("/face/verify")
@operation("faces", *result_answers(FaceComparison, "Queued for the worker"), json=PhotoPair, form=PhotoPairForm)
@accepts_uploads
def face_verify(json: PhotoPair | None, form: PhotoPairForm | None):
    """Compare the faces of two photos

    Each photo as a file, or by the id of one in your files (`image1_id` in a form, `image1` in JSON)."""
    user = api_user()
    if json is not None:
        photo_a = service.resolve_photo(user, None, json.image1, "image1")
        photo_b = service.resolve_photo(user, None, json.image2, "image2")
    else:
        photo_a = service.resolve_photo(user, form.image1, form.image1_id, "image1")
        photo_b = service.resolve_photo(user, form.image2, form.image2_id, "image2")
    return respond(service.start_comparison(user, photo_a, photo_b))


@bp.get("/face/verify/<int:row_id>")
@operation("faces", *result_answers(FaceComparison, "Still running"))
def face_verify_result(row_id: int):
    """A comparison's result"""
    return respond(service.get_comparison(api_user(), row_id, allow_admin=False))


@bp.post("/face/analyze")
@operation("faces", *result_answers(FaceAnalysis, "Queued for the worker"), json=Photo, form=PhotoForm)
@accepts_uploads
def face_analyze(json: Photo | None, form: PhotoForm | None):
    """Estimate age, gender and emotion of every face in a photo

    The photo as a file, or by the id of one in your files (`image_id` in a form, `image` in JSON)."""
    user = api_user()
    if json is not None:
        photo = service.resolve_photo(user, None, json.image, "image")
    else:
        photo = service.resolve_photo(user, form.image, form.image_id, "image")
    return respond(service.start_analysis(user, photo))


@bp.get("/face/analyze/<int:row_id>")
@operation("faces", *result_answers(FaceAnalysis, "Still running"))
def face_analyze_result(row_id: int):
    """An analysis's result"""
    return respond(service.get_analysis(api_user(), row_id, allow_admin=False))
