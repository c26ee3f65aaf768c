"""Pages and htmx partials of the files feature: upload, library, one file, downloads, the photo picker."""

from __future__ import annotations

import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from webapp.dashboard.cards import Card
from webapp.errors import Refused, error_response, show_beside_field
from webapp.files import bp, service
from webapp.files.forms import LibraryFilterForm, RenameForm, UploadForm
from webapp.files.responses import stream_stored_file, thumbnail_response
from webapp.files.uploads import accepts_uploads, drain_refused_body, signed_in
from webapp.units import MEGABYTE

# Names of form fields the picker may use: Faces asks for "photo_a", "photo_b"…
PICKER_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")


def upload_page_context() -> dict:
    return {
        "form": UploadForm(formdata=None),  # never re-read the body (it may be the one refused as too large)
        "allowed_labels": service.allowed_labels(),
        "max_upload_mb": current_app.config["MAX_UPLOAD_MB"],
        "max_upload_bytes": current_app.config["MAX_UPLOAD_BYTES"],
        "max_files": current_app.config["MAX_FILES_PER_UPLOAD"],
    }


def outcome_status(outcomes: list[service.UploadOutcome]) -> int:
    """201 when every file landed, the failure's status when none did, 200 when some did."""
    failed = [outcome for outcome in outcomes if not outcome.stored]
    if not failed:
        return 201
    if len(failed) == len(outcomes):
        return failed[0].status
    return 200


@bp.get("/upload")
@login_required
def upload_page():
    return render_template("files/upload.html", outcomes=[], **upload_page_context())


@bp.post("/upload")
@login_required
@accepts_uploads
def upload():
    uploads = request.files.getlist("file")
    if not any(upload.filename for upload in uploads) and not request.headers.get("HX-Request"):
        # The form sent without choosing a file: say so on the form itself.
        return render_template(
            "files/upload.html",
            outcomes=[],
            error=service.NO_FILE_MESSAGE,
            error_title="Nothing uploaded",
            **upload_page_context(),
        ), 400
    outcomes = service.store_uploads(current_user, uploads)
    status = outcome_status(outcomes)
    # A file refused because the server was busy says when to try again, as any 503 does.
    retry_after = max((outcome.retry_after or 0 for outcome in outcomes), default=0)
    headers = {"Retry-After": str(retry_after)} if status == 503 and retry_after else {}
    if request.headers.get("HX-Request"):
        # upload.js sends each file on its own request and puts this fragment in that file's row.
        return render_template("files/_upload_outcomes.html", outcomes=outcomes), status, headers
    return render_template("files/upload.html", outcomes=outcomes, **upload_page_context()), status, headers


def request_too_large(error: RequestEntityTooLarge):
    """Over the request limit: say so where the upload was made (the upload page, or its fragment)."""
    limit = current_app.config["MAX_UPLOAD_MB"]
    if signed_in():
        # Someone's browser should show this answer, not a reset connection; a stranger's body is not worth reading.
        drain_refused_body(request, most=2 * current_app.config["MAX_UPLOAD_REQUEST_BYTES"])
    if request.endpoint == "files.upload":
        message = (
            f"This upload is too large: each file can be up to {limit} MB, and at most "
            f"{current_app.config['MAX_FILES_PER_UPLOAD']} files can be sent at once."
        )
        if not request.headers.get("HX-Request"):
            return render_template(
                "files/upload.html", outcomes=[], error=message, error_title="Too large", **upload_page_context()
            ), 413
        return error_response(413, message)
    if request.endpoint == "api.upload":
        return error_response(413, f"The file is larger than the {limit} MB limit.")
    if getattr(request, "takes_uploads", False):
        limit = request.file_limit_bytes // MEGABYTE  # a view with its own limit (an import)
    return error_response(413, f"What you sent is larger than this server accepts ({limit} MB).")


@bp.get("/")
@login_required
def index():
    filters = LibraryFilterForm(request.args)
    filters.validate()
    search = (filters.q.data or "") if not filters.q.errors else ""
    kind = filters.kind.data if filters.kind.data in service.KINDS else None
    layout = "list" if request.args.get("view") == "list" else "grid"
    narrowing = service.library_filters(current_user, request.args)
    within = [narrow.within for narrow in narrowing if narrow.within is not None]
    files = service.list_files(current_user, search, kind, page=request.args.get("page", 1, type=int), within=within)
    kept = {name: value for narrow in narrowing for name, value in narrow.arguments.items()}
    return render_template(
        "files/index.html",
        files=files,
        narrowing=narrowing,
        kept=kept,
        filters=filters,
        search=search,
        kind=kind or "",
        layout=layout,
        usage=service.usage(current_user),
    )


@bp.get("/<int:file_id>")
@login_required
def detail(file_id: int):
    stored = service.get_owned(current_user, file_id)
    return render_detail(stored, RenameForm(name=stored.original_name))


def render_detail(stored, rename_form: RenameForm, status: int = 200):
    text, truncated = service.text_preview(stored) if stored.is_text else (None, False)
    return render_template(
        "files/detail.html", file=stored, rename_form=rename_form, text=text, text_truncated=truncated
    ), status


@bp.get("/<int:file_id>/thumbnail")
@login_required
def thumbnail(file_id: int):
    return thumbnail_response(service.get_owned(current_user, file_id))


@bp.get("/<int:file_id>/preview")
@login_required
def preview(file_id: int):
    """The image or PDF itself, always through the app so the page's CSP stays 'self' with S3 too."""
    stored = service.get_owned(current_user, file_id)
    if not service.shows_inline(stored):
        abort(404)
    return stream_stored_file(stored, service.open_original(stored), inline=True)


@bp.get("/<int:file_id>/download")
@login_required
def download(file_id: int):
    """Images and PDFs open inline, anything else (and `?attachment=1`) is saved under its name.
    S3: a redirect to a short-lived presigned URL; local disk: streamed here after the owner check."""
    stored = service.get_owned(current_user, file_id)
    inline = service.shows_inline(stored) and not request.args.get("attachment")
    url = service.presigned_url(stored, inline)
    if url:
        response = redirect(url, 302)
        response.headers["Cache-Control"] = "no-store"
        return response
    return stream_stored_file(stored, service.open_original(stored), inline)


@bp.get("/link/<token>")
def signed_download(token: str):
    """A short-lived link handed out by the API (`GET /api/files/<id>/url`) for the local store."""
    stored = service.file_for_link(token)
    return stream_stored_file(stored, service.open_original(stored), inline=False)


@bp.post("/<int:file_id>/rename")
@login_required
def rename(file_id: int):
    stored = service.get_owned(current_user, file_id)
    form = RenameForm()
    if form.validate_on_submit():
        try:
            service.rename(current_user, stored, form.name.data)
        except Refused as refusal:
            show_beside_field(form, refusal)
        else:
            flash(f"Renamed to “{stored.original_name}”.", "success")
            return redirect(url_for("files.detail", file_id=stored.id))
    return render_detail(stored, form, 400)


@bp.post("/<int:file_id>/delete")
@login_required
def delete(file_id: int):
    stored = service.get_owned(current_user, file_id)
    name = stored.original_name
    service.delete_file(current_user, stored)
    flash(f"Deleted “{name}”.", "success")
    return redirect(url_for("files.index"))


@bp.get("/picker")
@login_required
def picker():
    """The photo picker as a fragment (htmx), for pages that load it on demand."""
    field_name = request.args.get("name", "photo")
    if not PICKER_FIELD.fullmatch(field_name):
        raise Refused("The picker's field name must be letters, digits, '_' or '-'.")
    return render_template(
        "files/_picker.html",
        field_name=field_name,
        images=service.list_images(current_user),
        selected_id=request.args.get("selected", type=int),
    )


def dashboard_card(user) -> Card:
    usage = service.usage(user)
    return Card(
        "Files",
        "files.index",
        "Upload photos and documents and find them again.",
        template="files/_dashboard_card.html",
        context={"usage": usage, "latest": service.list_images(user, limit=4)},
    )
