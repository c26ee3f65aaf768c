"""/admin/history: admins review everyone's conversations, read-only; every look is in the audit log."""

from __future__ import annotations

from flask import render_template, request
from flask_login import current_user

from webapp.auth import service as users
from webapp.bounds import database_id
from webapp.chat import admin_history_bp as bp
from webapp.chat import history
from webapp.chat.history_views import filters_from_request
from webapp.review import views as review
from webapp.security import admin_required


@bp.get("")
@admin_required
def index():
    owner_id = request.args.get("user", type=database_id)
    filters = filters_from_request()
    page = history.review_list(
        current_user,
        owner_id,
        filters,
        page=request.args.get("page", 1, type=int),
        cursor=history.cursor_from(request.args),
    )
    return render_template(
        "chat/admin_history.html",
        page=page,
        filters=filters,
        users=users.list_users(),
        selected_user=owner_id,
        models=history.models_used(owner_id),
    )


@bp.get("/<int:conversation_id>")
@admin_required
def conversation(conversation_id: int):
    if (asked := review.ask_first("conversation", conversation_id)) is not None:
        return asked
    return render_template(
        "chat/admin_conversation.html", conversation=history.review_conversation(current_user, conversation_id)
    )
