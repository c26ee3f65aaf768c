"""People pages: Faces → Search (and a search's own page), and the index's progress (polled while pending)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.errors import Refused
from webapp.faces import service as faces
from webapp.files.uploads import accepts_uploads
from webapp.people import bp, service
from webapp.people.forms import SearchForm
from webapp.review import views as review

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
    if (asked := review.ask_first("search", row_id)) is not None:
        return asked  # an admin opening someone else's search says why first
    row = faces.get_search(current_user, row_id, audit_review=True)
    return render_template("people/search_detail.html", row=row), faces.result_status(row)


@bp.get("/faces/index")
@login_required
def index_status():
    """The index's progress as a partial: the search and people pages poll it while photos are pending."""
    return render_template("people/_index_status.html", status=service.index_status(current_user))


# --- people ---


def faces_view(rows):
    """(face, its photo as the box macros read it) pairs for the templates."""
    return [
        (
            face,
            {
                "width": indexed.width if indexed is not None and indexed.width else face.x + face.w,
                "height": indexed.height if indexed is not None and indexed.height else face.y + face.h,
                "faces": [{"box": face.box}],
            },
        )
        for face, indexed in rows
    ]


@bp.get("/people/")
@login_required
def people():
    return render_template(
        "people/people.html", people=service.summaries(current_user), status=service.index_status(current_user)
    )


@bp.get("/people/unnamed")
@login_required
def unnamed():
    groups = [faces_view(group.faces) for group in service.suggested_groups(current_user)]
    return render_template("people/unnamed.html", groups=groups, status=service.index_status(current_user))


@bp.post("/people/unnamed")
@login_required
def name_group():
    """Name a suggested group in one step: its faces become a new person (with their look-alikes)."""
    face_ids = [int(value) for value in request.form.getlist("face_ids") if value.isdecimal()]
    person = service.create_person(current_user, request.form.get("name", ""), face_ids=face_ids)
    flash(f"Named {person.name}.", "success")
    return redirect(url_for("people.person", person_id=person.id), 303)


@bp.get("/people/<int:person_id>")
@login_required
def person(person_id: int):
    found = service.get_person(current_user, person_id)
    others = [item for item in service.summaries(current_user) if item.id != found.id and not item.do_not_recognise]
    return render_template(
        "people/person.html",
        person=found,
        summary=service.summary(found),
        faces=faces_view(service.person_faces(found)),
        others=others,
    )


@bp.post("/people/<int:person_id>/rename")
@login_required
def rename(person_id: int):
    found = service.get_person(current_user, person_id)
    service.rename_person(current_user, found, request.form.get("name", ""))
    return redirect(url_for("people.person", person_id=found.id), 303)


@bp.post("/people/<int:person_id>/merge")
@login_required
def merge(person_id: int):
    found = service.get_person(current_user, person_id)
    into = service.get_person(current_user, request.form.get("into", type=int) or 0)
    service.merge_people(current_user, found, into)
    flash(f"Merged into {into.name}.", "success")
    return redirect(url_for("people.person", person_id=into.id), 303)


@bp.post("/people/<int:person_id>/split")
@login_required
def split(person_id: int):
    """ "Not them": one face taken away from the person (it becomes unnamed)."""
    found = service.get_person(current_user, person_id)
    service.split_faces(current_user, found, [request.form.get("face_id", type=int) or 0])
    return redirect(url_for("people.person", person_id=found.id), 303)


@bp.post("/people/<int:person_id>/forget")
@login_required
def forget(person_id: int):
    found = service.get_person(current_user, person_id)
    service.do_not_recognise(current_user, found)
    flash(f"{found.name} will not be recognised: their faces were deleted from the index.", "success")
    return redirect(url_for("people.person", person_id=found.id), 303)


@bp.post("/people/<int:person_id>/delete")
@login_required
def delete(person_id: int):
    found = service.get_person(current_user, person_id)
    service.delete_person(current_user, found)
    flash("Deleted; their faces are unnamed again.", "success")
    return redirect(url_for("people.people"), 303)
