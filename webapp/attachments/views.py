"""A project's files: added from the library, taken out again (the project page shows them)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from webapp.attachments import bp, service


@bp.post("/projects/<int:project_id>/files")
@login_required
def add_project_files(project_id: int):
    ticked = request.form.getlist("file_ids", type=int)
    added = service.add_project_files(current_user, project_id, ticked)
    if not ticked:
        flash("No file was ticked: tick the files to add, then add them.")
    elif added:
        flash(f"{added} file{'s' if added != 1 else ''} added to the project.", "success")
    else:
        flash("Those files were already in the project.")
    return redirect(url_for("projects.detail", project_id=project_id), 303)


@bp.post("/projects/<int:project_id>/files/<int:file_id>/remove")
@login_required
def remove_project_file(project_id: int, file_id: int):
    service.remove_project_file(current_user, project_id, file_id)
    flash("The file was taken out of the project; it stays in your library.", "success")
    return redirect(url_for("projects.detail", project_id=project_id), 303)
