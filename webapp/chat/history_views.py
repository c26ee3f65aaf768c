"""/history: the user's conversations, searched and filtered; pin, rename, delete, export."""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required

from webapp.chat import history, schemas, service
from webapp.chat import history_bp as bp
from webapp.projects import service as projects
from webapp.security import safe_next_url


def filters_from_request() -> history.HistoryFilter:
    return history.HistoryFilter(
        query=request.args.get("q", "").strip(),
        model=request.args.get("model", "").strip(),
        date_from=history.parse_date(request.args.get("from"), "“active from”"),
        date_to=history.parse_date(request.args.get("to"), "“active until”"),
    )


def back_to_history():
    """Back to the history page the action came from (its search and page kept), never off-site."""
    return redirect(safe_next_url(request.form.get("next")) or url_for("history.index"), 303)


@bp.get("")
@login_required
def index():
    filters = filters_from_request()
    page = history.search(
        current_user, filters, page=request.args.get("page", 1, type=int), cursor=history.cursor_from(request.args)
    )
    return render_template(
        "chat/history.html",
        page=page,
        filters=filters,
        models=history.models_used(current_user.id),
        here=request.full_path.rstrip("?"),
        projects=projects.list_projects(current_user),
    )


@bp.post("/<int:conversation_id>/pin")
@login_required
def pin(conversation_id: int):
    service.set_pinned(current_user, conversation_id, True)
    return back_to_history()


@bp.post("/<int:conversation_id>/unpin")
@login_required
def unpin(conversation_id: int):
    service.set_pinned(current_user, conversation_id, False)
    return back_to_history()


@bp.post("/<int:conversation_id>/rename")
@login_required
def rename(conversation_id: int):
    conversation = service.rename(current_user, conversation_id, request.form.get("title"))
    flash(f"Renamed to “{conversation.title}”.", "success")
    return back_to_history()


@bp.post("/<int:conversation_id>/delete")
@login_required
def delete(conversation_id: int):
    title = service.get_conversation(current_user, conversation_id).title
    service.delete_conversation(current_user, conversation_id)
    flash(f"Deleted “{title}”.", "success")
    return back_to_history()


@bp.get("/<int:conversation_id>/export.md")
@login_required
def export_markdown(conversation_id: int):
    conversation = service.get_conversation(current_user, conversation_id)
    return attachment(
        history.conversation_markdown(conversation),
        "text/markdown; charset=utf-8",
        history.export_filename(conversation, "md"),
    )


@bp.get("/<int:conversation_id>/export.json")
@login_required
def export_json(conversation_id: int):
    conversation = service.get_conversation(current_user, conversation_id)
    body = json.dumps(schemas.Conversation.of(conversation).model_dump(mode="json"), ensure_ascii=False, indent=2)
    return attachment(body, "application/json", history.export_filename(conversation, "json"))


@bp.get("/export.json")
@login_required
def export_everything():
    user = current_user._get_current_object()
    return attachment(stream_with_context(history.export_all(user)), "application/json", "workbench-conversations.json")


def attachment(body, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
