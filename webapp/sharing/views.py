"""/shared/<token> (a colleague opens a share), /chat/<id>/share (its owner manages it), /admin/shares (admins)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.errors import Refused, show_beside_field
from webapp.security import admin_required
from webapp.sharing import admin_bp, bp, service
from webapp.sharing.forms import ConfirmForm, ShareForm


@bp.get("/shared/<share_token>")
@login_required  # someone signed out goes to the sign-in page, and comes back to the link
def view(share_token: str):
    share = service.open_share(current_user, share_token)
    return render_template("sharing/view.html", share=share, mine=share.user_id == current_user.id)


def render_manage(conversation_id: int, form: ShareForm | None = None, status: int = 200):
    conversation, share = service.sharing_state(current_user, conversation_id)
    live = share is not None and service.is_live(share)
    if form is None:
        form = ShareForm(formdata=None, days=current_app.config["SHARE_DEFAULT_DAYS"])
    form.days.render_kw = {**(form.days.render_kw or {}), "max": current_app.config["SHARE_MAX_DAYS"]}
    form.submit.label.text = "Update the snapshot" if live else "Create link"
    return (
        render_template(
            "sharing/manage.html",
            conversation=conversation,
            share=share,
            live=live,
            url=service.share_url(share) if live else None,
            form=form,
        ),
        status,
    )


@bp.get("/chat/<int:conversation_id>/share")
@login_required
def manage(conversation_id: int):
    return render_manage(conversation_id)


@bp.post("/chat/<int:conversation_id>/share")
@login_required
def share(conversation_id: int):
    form = ShareForm()
    if not form.validate_on_submit():
        return render_manage(conversation_id, form, 400)
    existing = service.current_share(current_user, conversation_id)
    renewing = existing is not None and service.is_live(existing)
    try:
        service.share_conversation(current_user, conversation_id, form.days.data)
    except Refused as refusal:
        show_beside_field(form, refusal)
        return render_manage(conversation_id, form, refusal.status)
    flash(
        "The snapshot is updated: the link now shows the conversation as it is."
        if renewing
        else "The link is ready: copy it and send it to colleagues with a Workbench account.",
        "success",
    )
    return redirect(url_for("sharing.manage", conversation_id=conversation_id), 303)


@bp.post("/chat/<int:conversation_id>/share/revoke")
@login_required
def revoke(conversation_id: int):
    if ConfirmForm().validate_on_submit():
        service.revoke(current_user, conversation_id)
        flash("Sharing stopped: the link no longer opens.", "success")
    return redirect(url_for("sharing.manage", conversation_id=conversation_id), 303)


@admin_bp.get("")
@admin_required
def index():
    page = service.live_shares(current_user, request.args.get("page", 1, type=int))
    return render_template("sharing/admin.html", page=page)


@admin_bp.post("/<int:share_id>/revoke")
@admin_required
def admin_revoke(share_id: int):
    if ConfirmForm().validate_on_submit():
        described = service.admin_revoke(current_user, share_id)
        flash(f"Sharing stopped: {described} no longer opens.", "success")
    return redirect(url_for("sharing_admin.index"), 303)
