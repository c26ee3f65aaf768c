"""/admin/review: the short form an admin fills in before opening someone else's content."""

from __future__ import annotations

from flask import Response, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.bounds import database_id
from webapp.errors import NotFound, Refused, show_beside_field
from webapp.review import bp, service
from webapp.review.forms import ReasonForm
from webapp.security import admin_required, safe_next_url


def ask_first(kind: str, target_id: int) -> Response | None:
    """For an admin opening someone else's object without a recent reason: the way to the reason form (then back
    to this request's URL). None when nothing needs asking: the owner, staff (their own rules answer), a reason
    given in the last REASON_LASTS."""
    if not current_user.is_authenticated or not current_user.is_admin:
        return None
    found = service.target(kind, target_id)
    if not service.needs_reason(current_user, kind, found.row):
        return None
    ask = url_for("review.ask", kind=kind, id=found.id, next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        # htmx would swap the form into a fragment's place; have it open the form as a page.
        response = current_app.response_class(status=204)
        response.headers["HX-Redirect"] = ask
        return response
    return redirect(ask)


def render_form(form: ReasonForm, found: service.Target, status: int = 200):
    return render_template("review/ask.html", form=form, target=found), status


@bp.get("")
@admin_required
def ask():
    kind, target_id = request.args.get("kind", ""), request.args.get("id", type=database_id)
    if target_id is None:
        raise NotFound("There is nothing of that kind to review.")
    found = service.target(kind, target_id)
    form = ReasonForm(kind=kind, id=found.id, next=safe_next_url(request.args.get("next")) or found.url)
    return render_form(form, found)


@bp.post("")
@admin_required
def give():
    form = ReasonForm()
    if not form.validate_on_submit():
        raise Refused("The form could not be read. Go back to the list and open it again.")
    found = service.target(form.kind.data, form.id.data)
    try:
        service.give_reason(current_user, form.kind.data, form.id.data, form.reason.data)
    except Refused as refusal:
        show_beside_field(form, refusal)
        return render_form(form, found, 400)
    return redirect(safe_next_url(form.next.data) or found.url, 303)
