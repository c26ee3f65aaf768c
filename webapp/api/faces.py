"""Faces over JSON: the same service as the pages.

POST /api/face/verify   multipart `image1`, `image2` (files), or JSON {"image1": file id, "image2": file id}
POST /api/face/analyze  multipart `image`, or JSON {"image": file id}
GET  /api/face/verify/<id>, /api/face/analyze/<id>   a result (poll these while a worker computes it: 202)
A finished job answers 200; no face 422, unreadable photo 400, engine or worker unavailable 503, each as
{"error", "status", ...the result so far}.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.bounds import is_database_id
from webapp.errors import Refused
from webapp.faces import service
from webapp.faces.models import FAILED, FaceAnalysis, FaceComparison
from webapp.files.uploads import accepts_uploads


def _file_id(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if not is_database_id(value):
        raise Refused(f"“{key}” must be the id (a whole number) of a photo in your files.")
    return value


def _photo(key: str, label: str):
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise Refused("The request body must be a JSON object, or a multipart form with the photos.")
        return service.resolve_photo(api_user(), None, _file_id(body.get(key), key), label)
    picked = _file_id(request.form.get(f"{key}_id", type=int), f"{key}_id")
    return service.resolve_photo(api_user(), request.files.get(key), picked, label)


def _respond(row: FaceComparison | FaceAnalysis):
    body = service.comparison_json(row) if row.kind == "comparison" else service.analysis_json(row)
    status = service.result_status(row)
    if row.status == FAILED:
        body = {"error": row.error, "status": status, **body}
        body["status"] = status
        body["job_status"] = row.status
    response = jsonify(body)
    response.status_code = status
    if status == 202:
        endpoint = "api.face_verify_result" if row.kind == "comparison" else "api.face_analyze_result"
        response.headers["Location"] = url_for(endpoint, row_id=row.id)
    return response


@bp.post("/face/verify")
@accepts_uploads
def face_verify():
    photo_a = _photo("image1", "image1")
    photo_b = _photo("image2", "image2")
    return _respond(service.start_comparison(api_user(), photo_a, photo_b))


@bp.get("/face/verify/<int:row_id>")
def face_verify_result(row_id: int):
    return _respond(service.get_comparison(api_user(), row_id, allow_admin=False))


@bp.post("/face/analyze")
@accepts_uploads
def face_analyze():
    return _respond(service.start_analysis(api_user(), _photo("image", "image")))


@bp.get("/face/analyze/<int:row_id>")
def face_analyze_result(row_id: int):
    return _respond(service.get_analysis(api_user(), row_id, allow_admin=False))
