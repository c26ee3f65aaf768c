"""Files over the JSON API: the same service as the pages, bearer-token users, JSON errors."""

from __future__ import annotations

from flask import request, url_for

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.spec import operation
from webapp.files import service
from webapp.files.models import StoredFile as StoredFileRow
from webapp.files.schemas import DownloadLink, FilePage, FileQuery, StoredFile, Upload
from webapp.files.uploads import accepts_uploads
from webapp.schemas import PageFields


def download_link(stored: StoredFileRow) -> DownloadLink:
    """A short-lived URL that fetches the file without a token: presigned on S3, app-signed on local disk."""
    url = service.presigned_url(stored, inline=False)
    if url is None:
        url = url_for("files.signed_download", token=service.sign_link(stored), _external=True)
    return DownloadLink(url=url, expires_in=service.link_seconds())


def with_link(stored: StoredFileRow) -> StoredFile:
    return StoredFile.of(stored, link=download_link(stored))


@bp.post("/upload")
@operation(
    "files",
    (201, StoredFile, "Stored; `Location` is where to read it."),
    (400, "No file in the field `file`, or an empty one."),
    413,
    (422, "Not an allowed type (decided from the content), a damaged image or PDF."),
    503,
    form=Upload,
)
@accepts_uploads
def upload(form: Upload):
    """Upload one file

    multipart/form-data with one file in the field `file`."""
    stored = service.store_upload(api_user(), form.file)
    return with_link(stored), 201, {"Location": url_for("api.file_detail", file_id=stored.id)}


@bp.get("/files")
@operation("files", (200, FilePage, "One page of files."), 400, query=FileQuery)
def file_list(query: FileQuery) -> FilePage:
    """Your files, newest first"""
    # The library's filters other features add (People: `person`), as on the library page.
    narrowing = service.library_filters(api_user(), request.args)
    within = [narrow.within for narrow in narrowing if narrow.within is not None]
    found = service.list_files(
        api_user(), search=query.q, kind=query.kind, page=query.page, per_page=query.per_page, within=within
    )
    return FilePage(items=[with_link(stored) for stored in found.items], **PageFields.of_pagination(found))


@bp.get("/files/<int:file_id>")
@operation("files", (200, StoredFile, "The file."), 404)
def file_detail(file_id: int) -> StoredFile:
    """One file, with a download link"""
    return with_link(service.get_owned(api_user(), file_id))


@bp.get("/files/<int:file_id>/url")
@operation("files", (200, DownloadLink, "A link that works without a token until it expires."), 404)
def file_url(file_id: int) -> DownloadLink:
    """A fresh download link"""
    return download_link(service.get_owned(api_user(), file_id))


@bp.delete("/files/<int:file_id>")
@operation("files", (204, "Deleted."), 404, 503)
def file_delete(file_id: int):
    """Delete a file"""
    user = api_user()
    service.delete_file(user, service.get_owned(user, file_id))
    return "", 204
