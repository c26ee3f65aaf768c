"""/import: choose an export file; its upload shows its progress, then what was imported."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_login import current_user, login_required

from webapp.errors import Refused, show_beside_field
from webapp.files.uploads import accepts_upload_up_to
from webapp.imports import bp, service
from webapp.imports.forms import ImportForm


def page_context(form: ImportForm) -> dict:
    return {
        "form": form,
        "max_mb": current_app.config["CHAT_IMPORT_MAX_MB"],
        "max_bytes": current_app.config["CHAT_IMPORT_MAX_BYTES"],
    }


@bp.get("")
@login_required
def page():
    return render_template("imports/import.html", outcome=None, **page_context(ImportForm(formdata=None)))


@bp.post("")
@login_required
@accepts_upload_up_to("CHAT_IMPORT_MAX_BYTES")
def upload():
    form = ImportForm(formdata=None)  # the file is read by the service; never parse the body twice
    outcome, status = None, 200
    try:
        outcome = service.import_export(current_user, request.files.get("file"))
    except Refused as refusal:
        show_beside_field(form, refusal)
        status = refusal.status
    if request.headers.get("HX-Request"):
        # import.js sent the file and puts this fragment under the progress bar.
        return render_template("imports/_outcome.html", outcome=outcome, form=form), status
    return render_template("imports/import.html", outcome=outcome, **page_context(form)), status
