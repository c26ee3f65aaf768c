"""Files over the JSON API: the same service as the pages, bearer-token users, JSON errors."""

from __future__ import annotations

from flask import jsonify, request, url_for

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.files import service
from webapp.files.models import StoredFile
from webapp.files.uploads import accepts_uploads


def download_link(stored: StoredFile) -> tuple[str, int]:
    """A short-lived URL that fetches the file without a token: presigned on S3, app-signed on local disk."""
    url = service.presigned_url(stored, inline=False)
    if url is None:
        url = url_for("files.signed_download", token=service.sign_link(stored), _external=True)
    return url, service.link_seconds()


def represent(stored: StoredFile) -> dict:
    return service.api_representation(stored, *download_link(stored))


@bp.post("/upload")
@accepts_uploads
def upload():
    """multipart/form-data with one file in the field `file` → 201 and the stored file."""
    stored = service.store_upload(api_user(), request.files.get("file"))
    response = jsonify(represent(stored))
    response.status_code = 201
    response.headers["Location"] = url_for("api.file_detail", file_id=stored.id)
    return response


@bp.get("/files")
def file_list():
    """?page=1&per_page=50&q=name&kind=image|document, newest first."""
    page = service.list_files(
        api_user(),
        search=request.args.get("q", ""),
        kind=request.args.get("kind"),
        page=request.args.get("page", 1, type=int),
        per_page=request.args.get("per_page", 50, type=int),
    )
    return jsonify(
        {
            "items": [represent(stored) for stored in page.items],
            "page": page.page,
            "per_page": page.per_page,
            "pages": page.pages,
            "total": page.total,
        }
    )


@bp.get("/files/<int:file_id>")
def file_detail(file_id: int):
    return jsonify(represent(service.get_owned(api_user(), file_id)))


@bp.get("/files/<int:file_id>/url")
def file_url(file_id: int):
    url, expires_in = download_link(service.get_owned(api_user(), file_id))
    return jsonify({"url": url, "expires_in": expires_in})


@bp.delete("/files/<int:file_id>")
def file_delete(file_id: int):
    user = api_user()
    service.delete_file(user, service.get_owned(user, file_id))
    return "", 204
