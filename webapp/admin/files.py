"""Admins review everyone's files: a list with an owner filter, thumbnails and downloads."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from webapp.admin import bp
from webapp.audit import service as audit
from webapp.auth import service as users
from webapp.bounds import database_id
from webapp.extensions import db
from webapp.files import service as files
from webapp.files.responses import stream_stored_file, thumbnail_response
from webapp.review import views as review
from webapp.security import admin_required


@bp.get("/files")
@admin_required
def file_list():
    owner_id = request.args.get("owner", type=database_id)
    kind = request.args.get("kind") if request.args.get("kind") in files.KINDS else None
    search = request.args.get("q", "").strip()[:200]
    page = files.list_all_files(owner_id, search, kind, page=request.args.get("page", 1, type=int))
    return render_template(
        "admin/files.html",
        files=page,
        users=users.list_users(),
        selected_owner=owner_id,
        kind=kind or "",
        search=search,
    )


@bp.get("/files/<int:file_id>/thumbnail")
@admin_required
def file_thumbnail(file_id: int):
    stored = files.get_any(file_id)
    if stored.user_id != current_user.id:
        # Someone's photo, even small, is their content: one row per admin, file and minute (see audit.record_view).
        audit.record_view("file.admin_view", current_user, stored, detail=f"thumbnail; owner {stored.user_id}")
        db.session.commit()
    return thumbnail_response(stored)


@bp.get("/files/<int:file_id>/download")
@admin_required
def file_download(file_id: int):
    """Always an attachment, always through the app, and recorded: an admin opening someone's file, with a reason."""
    if (asked := review.ask_first("file", file_id)) is not None:
        return asked
    stored = files.get_any(file_id)
    if stored.user_id != current_user.id:
        audit.record("file.admin_download", current_user, stored, detail=f"owner {stored.user_id}")
        db.session.commit()
    return stream_stored_file(stored, files.open_original(stored), inline=False)
