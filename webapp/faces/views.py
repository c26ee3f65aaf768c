"""Faces pages: compare, analyse, results (polled while a worker computes them), history."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.bounds import database_id
from webapp.dashboard.cards import Card
from webapp.errors import Refused
from webapp.faces import bp, service
from webapp.faces.forms import AnalyzeForm, ChooseFacesForm, CompareForm
from webapp.faces.models import FaceAnalysis, FaceComparison
from webapp.files import service as files
from webapp.files.responses import stream_stored_file, thumbnail_response
from webapp.files.uploads import accepts_uploads
from webapp.review import views as review

FORM_ERROR = "The form could not be read. Reload the page and try again."


def is_htmx() -> bool:
    return bool(request.headers.get("HX-Request"))


def picker_images():
    return files.list_images(current_user, limit=current_app.config["FACE_PICKER_SIZE"])


@bp.get("/")
@login_required
def index():
    return redirect(url_for("faces.compare_page"))


# --- compare ---


@bp.get("/compare")
@login_required
def compare_page():
    return render_template("faces/compare.html", form=CompareForm(), images=picker_images())


@bp.post("/compare")
@login_required
@accepts_uploads
def compare():
    form = CompareForm()
    if not form.validate_on_submit():
        raise Refused(FORM_ERROR)
    photo_a = service.resolve_photo(current_user, form.photo_a.data, form.file_a.data, "the first photo")
    photo_b = service.resolve_photo(current_user, form.photo_b.data, form.file_b.data, "the second photo")
    comparison = service.start_comparison(current_user, photo_a, photo_b)
    return render_result(comparison)


def render_result(row: FaceComparison | FaceAnalysis, page: bool = False):
    """The result partial for htmx (also while pending), or the detail page for a plain form post."""
    status = service.result_status(row)
    if not page and not is_htmx() and request.method == "POST":
        return redirect(url_for(f"faces.{row.kind}_detail", row_id=row.id), 303)
    template = f"faces/{row.kind}.html" if page else f"faces/_{row.kind}.html"
    return render_template(template, row=row, images=picker_images() if page else None), status


@bp.get("/comparisons/<int:row_id>")
@login_required
def comparison_detail(row_id: int):
    if (asked := review.ask_first("comparison", row_id)) is not None:
        return asked
    return render_result(service.get_comparison(current_user, row_id, audit_review=True), page=True)


@bp.get("/comparisons/<int:row_id>/result")
@login_required
def comparison_result(row_id: int):
    if (asked := review.ask_first("comparison", row_id)) is not None:
        return asked
    return render_result(service.get_comparison(current_user, row_id))


@bp.post("/comparisons/<int:row_id>/faces")
@login_required
def choose_faces(row_id: int):
    comparison = service.get_comparison(current_user, row_id, allow_admin=False)
    form = ChooseFacesForm()
    if not form.validate_on_submit():
        raise Refused(FORM_ERROR)
    service.choose_faces(current_user, comparison, form.face_a.data, form.face_b.data)
    return render_result(comparison)


# --- analyse ---


@bp.get("/analyze")
@login_required
def analyze_page():
    return render_template("faces/analyze.html", form=AnalyzeForm(), images=picker_images())


@bp.post("/analyze")
@login_required
@accepts_uploads
def analyze():
    form = AnalyzeForm()
    if not form.validate_on_submit():
        raise Refused(FORM_ERROR)
    photo = service.resolve_photo(current_user, form.photo.data, form.file.data, "a photo")
    return render_result(service.start_analysis(current_user, photo))


@bp.get("/analyses/<int:row_id>")
@login_required
def analysis_detail(row_id: int):
    if (asked := review.ask_first("analysis", row_id)) is not None:
        return asked
    return render_result(service.get_analysis(current_user, row_id, audit_review=True), page=True)


@bp.get("/analyses/<int:row_id>/result")
@login_required
def analysis_result(row_id: int):
    if (asked := review.ask_first("analysis", row_id)) is not None:
        return asked
    return render_result(service.get_analysis(current_user, row_id))


# --- photos of a result (owner, or an admin reviewing it) ---

# The URL's kind of result, as the review of an admin names it. Full-size photos ask an admin for a reason like the
# result's page; thumbnails (shown in the history's list of everyone's results) are audited without asking.
REVIEW_KINDS = {"comparisons": "comparison", "analyses": "analysis"}


def result_for(kind: str, row_id: int) -> FaceComparison | FaceAnalysis:
    if kind == "comparisons":
        return service.get_comparison(current_user, row_id)
    if kind == "analyses":
        return service.get_analysis(current_user, row_id)
    abort(404)


def photo_of(row: FaceComparison | FaceAnalysis, side: str):
    stored = {
        "a": getattr(row, "file_a", None),
        "b": getattr(row, "file_b", None),
        "photo": getattr(row, "file", None),
    }.get(side)
    if stored is None or stored.deleted_at is not None:
        abort(404)
    return stored


@bp.get("/<kind>/<int:row_id>/photo/<side>")
@login_required
def photo(kind: str, row_id: int, side: str):
    if kind in REVIEW_KINDS and (asked := review.ask_first(REVIEW_KINDS[kind], row_id)) is not None:
        return asked
    stored = photo_of(result_for(kind, row_id), side)
    return stream_stored_file(stored, files.open_original(stored), inline=True)


@bp.get("/<kind>/<int:row_id>/thumbnail/<side>")
@login_required
def thumbnail(kind: str, row_id: int, side: str):
    return thumbnail_response(photo_of(result_for(kind, row_id), side))


@bp.post("/<kind>/<int:row_id>/delete")
@login_required
def delete(kind: str, row_id: int):
    row = result_for(kind, row_id)
    service.delete_result(current_user, row)
    if is_htmx():
        response = current_app.response_class(status=204)
        response.headers["HX-Redirect"] = url_for("faces.history")
        return response
    return redirect(url_for("faces.history"), 303)


# --- history ---


@bp.get("/history")
@login_required
def history():
    verdict = request.args.get("verdict", "")
    if verdict not in service.VERDICTS:
        verdict = ""
    owner_id = request.args.get("owner", type=database_id) if current_user.is_admin else None
    page = service.history(current_user, verdict=verdict, owner_id=owner_id, page=request.args.get("page", 1, type=int))
    return render_template(
        "faces/history.html",
        page=page,
        verdict=verdict,
        owner_id=owner_id,
        verdicts=service.VERDICTS,
        owners=service.owners() if current_user.is_admin else [],
    )


def dashboard_card(user) -> Card:
    return Card(
        "Faces",
        "faces.compare_page",
        "Compare two photos, or analyse the faces in one.",
        template="faces/_dashboard_card.html",
        context={"recent": service.recent(user)},
    )
