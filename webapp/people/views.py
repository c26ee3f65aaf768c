"""People pages: Faces → Search (and a search's own page), and the index's progress (polled while pending)."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.errors import Refused
from webapp.faces import service as faces
from webapp.files.uploads import accepts_uploads
from webapp.people import bp, service
from webapp.people.forms import SearchForm

FORM_ERROR = "The form could not be read. Reload the page and try again."


def is_htmx() -> bool:
    return bool(request.headers.get("HX-Request"))


@bp.get("/faces/search")
@login_required
def search_page():
    return render_template(
        "people/search.html", form=SearchForm(), images=_picker_images(), status=service.index_status(current_user)
    )


def _picker_images():
    from webapp.files import service as files

    return files.list_images(current_user, limit=current_app.config["FACE_PICKER_SIZE"])


@bp.post("/faces/search")
@login_required
@accepts_uploads
def search():
    form = SearchForm()
    if not form.validate_on_submit():
        raise Refused(FORM_ERROR)
    photo = faces.resolve_photo(current_user, form.photo.data, form.file.data, "a photo", announce=False)
    row = service.search(
        current_user, photo, face=form.face.data, include_all=form.all.data, everyone=form.everyone.data
    )
    if not is_htmx():
        return redirect(url_for("people.search_detail", row_id=row.id), 303)
    return render_template("people/_search.html", row=row)


@bp.get("/faces/searches/<int:row_id>")
@login_required
def search_detail(row_id: int):
    row = faces.get_search(current_user, row_id, audit_review=True)
    return render_template("people/search_detail.html", row=row), faces.result_status(row)


@bp.get("/faces/index")
@login_required
def index_status():
    """The index's progress as a partial: the search and people pages poll it while photos are pending."""
    return render_template("people/_index_status.html", status=service.index_status(current_user))
