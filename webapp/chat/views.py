"""/chat: start and continue conversations; replies stream to the page as server-sent events."""

from __future__ import annotations

import json
from contextlib import closing

from flask import Response, current_app, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user, login_required
from markupsafe import escape
from pydantic import ValidationError

from webapp.chat import bp, service, temporary
from webapp.chat.forms import MessageForm, SettingsForm
from webapp.chat.schemas import ChatRequest
from webapp.errors import Refused, error_response
from webapp.governance import service as governance
from webapp.projects import service as projects
from webapp.schemas import explain


def is_htmx() -> bool:
    return bool(request.headers.get("HX-Request"))


def message_form(conversation=None, project=None) -> MessageForm:
    """An empty composer, its model picker set to the conversation's model (or the project's, or the default)."""
    form = MessageForm(formdata=None)
    choices = governance.allowed_models(current_user)  # only the models the user's groups allow
    form.model.choices = [(choice.value, choice.label) for choice in choices]
    if choices:
        starting = projects.default_model(project) if conversation is None else None
        form.model.data = governance.choose_model(current_user, None, conversation, preferred=starting).value
    if conversation is None and project is not None:
        form.project_id.data = str(project.id)
    return form


def attached_ids() -> list[int]:
    """The files ticked in the composer's attach picker (or uploaded in place); anything but an id is ignored."""
    return request.form.getlist("file_ids", type=int)


def render_chat(
    conversation=None, status: int = 200, project=None, refusal: Refused | None = None, before: int | None = None
):
    """The chat page, or (for htmx) its #chat section alone. `project`: the one a new conversation starts in;
    `refusal`: why the message just sent was kept unanswered, shown above an empty composer; `before`: show the
    branch from a window earlier than that message down to its end (the "Show earlier messages" link, no script)."""
    if conversation is not None and conversation.project_id is not None:
        project = projects.get_project(current_user, conversation.project_id)
    context = {
        "conversation": conversation,
        "project": project,
        "projects": projects.list_projects(current_user),
        **branch_context(conversation, before=before),
        "form": message_form(conversation, project),
        "settings_form": SettingsForm(title=conversation.title, system_prompt=conversation.system_prompt)
        if conversation
        else None,
        "configured": service.is_configured(),
        "temporary_allowed": temporary.allowed(),
        "recent": service.recent_conversations(current_user, limit=8),
        "refusal": refusal,
    }
    template = "chat/_conversation.html" if is_htmx() else "chat/page.html"
    return render_template(template, **context), status


def branch_context(conversation=None, before: int | None = None, reaching: int | None = None) -> dict:
    """The window of the branch shown (its last messages, `service.window`), the ‹ n/m › of those that have other
    versions, and `earlier` (what the "Show earlier messages" control needs; None at the branch's start)."""
    if conversation is None:
        return {"messages": [], "message_versions": {}, "earlier": None}
    shown = service.window(conversation, before=before, through_end=before is not None, reaching=reaching)
    return {"messages": shown.messages, "message_versions": shown.versions, "earlier": earlier(conversation, shown)}


def earlier(conversation, shown: service.Window) -> dict | None:
    """The "Show earlier messages" control above a window that does not start the branch: how many come before it,
    its htmx fragment's URL, and the page's URL with that window (the link followed without a script)."""
    if shown.earlier_before is None:
        return None
    return {
        "count": shown.earlier_count,
        "fragment_url": url_for("chat.earlier_messages", conversation_id=conversation.id, before=shown.earlier_before),
        "page_url": url_for(
            "chat.conversation", conversation_id=conversation.id, before=shown.earlier_before, _anchor="messages"
        ),
    }


def render_messages(conversation, announce: str, status: int = 200, reaching: int | None = None):
    """After an edit, a regeneration or ‹ ›: the page (without htmx), or the messages of the branch now shown (its
    last window, reaching back to message `reaching`)."""
    if not is_htmx():
        return redirect(url_for("chat.conversation", conversation_id=conversation.id), 303)
    context = branch_context(conversation, reaching=reaching)
    return render_template("chat/_messages.html", announce=announce, **context), status


@bp.get("")
@login_required
def new_conversation():
    """A new conversation; `?project=<id>` starts it in one of the user's projects."""
    project_id = projects.parse_project_id(request.args.get("project"))
    return render_chat(project=projects.get_project(current_user, project_id) if project_id is not None else None)


@bp.post("")
@login_required
def start_conversation():
    form = MessageForm()
    if request.form.get("temporary"):
        # The toggle was on, but the page's script did not send it (it failed to load): store nothing.
        raise Refused("A temporary chat is sent by the page's script, which is not running. Reload the page.")
    exchange = service.send_message(
        current_user,
        form.message.data,
        None,
        form.model.data,
        form.system_prompt.data,
        project_id=projects.parse_project_id(form.project_id.data),
        file_ids=attached_ids(),
    )
    url = url_for("chat.conversation", conversation_id=exchange.conversation.id)
    if not is_htmx():
        return redirect(url, 303)
    page, _ = render_chat(exchange.conversation)
    return page, 201, {"HX-Push-Url": url}


@bp.post("/temporary")
@login_required
def temporary_reply():
    """A temporary chat's next reply, for the page's script (static/js/temporary.js): the body is POST /api/chat's
    (`temporary`, `message`, `turns`…) and the reply streams back as lines of JSON: `{"delta": text}` as the model
    writes, then `{"done": true, "status": …, "html": the finished message}`. Nothing is stored or logged."""
    asked = temporary_request()
    reply = temporary.prepare(
        current_user,
        asked.message,
        [(turn.role, turn.content) for turn in asked.turns],
        asked.model,
        asked.system,
        asked.project_id,
    )

    def lines():
        with closing(reply.events()) as deltas:
            for text in deltas:
                yield json.dumps({"delta": text}) + "\n"
        outcome = reply.outcome
        html = render_template("chat/_temporary_reply.html", outcome=outcome)
        yield json.dumps({"done": True, "status": outcome.status, "html": html}) + "\n"

    return Response(
        stream_with_context(lines()),
        mimetype="application/x-ndjson",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def temporary_request() -> ChatRequest:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Refused("Send the message as a JSON object.")
    try:
        asked = ChatRequest.model_validate(body)
    except ValidationError as error:
        raise Refused(explain(error)) from None
    if asked.conversation_id is not None:
        raise Refused("A temporary chat cannot continue a saved conversation.", field="conversation_id")
    return asked


@bp.get("/<int:conversation_id>")
@login_required
def conversation(conversation_id: int):
    """A conversation: the last window of its branch; `?before=<message id>` shows it from the window before that
    message on (what "Show earlier messages" loads in place, followed as a plain link)."""
    before = request.args.get("before", type=int)
    return render_chat(service.get_conversation(current_user, conversation_id), before=before)


@bp.get("/<int:conversation_id>/earlier")
@login_required
def earlier_messages(conversation_id: int):
    """For htmx: the window of the branch just before message `before`, to put above the first message shown (with
    the control for the window before it, if any), and a polite word of what came. Without htmx: the page."""
    before = request.args.get("before", type=int)
    conversation = service.get_conversation(current_user, conversation_id)
    if not is_htmx():
        url = url_for("chat.conversation", conversation_id=conversation.id, before=before, _anchor="messages")
        return redirect(url, 303)
    if before is None:
        raise Refused("Say which message to show the messages before (before=<message id>).")
    shown = service.window(conversation, before=before)
    return render_template(
        "chat/_earlier.html",
        messages=shown.messages,
        message_versions=shown.versions,
        earlier=earlier(conversation, shown),
    )


@bp.post("/<int:conversation_id>/messages")
@login_required
def send(conversation_id: int):
    form = MessageForm()
    exchange = service.send_message(
        current_user, form.message.data, conversation_id, form.model.data, file_ids=attached_ids()
    )
    if not is_htmx():
        return redirect(url_for("chat.conversation", conversation_id=conversation_id), 303)
    if exchange.asked_again:
        # The question is on the page already (kept when it was refused): show the branch with its new reply.
        page, status = render_messages(exchange.conversation, "Your kept message is being answered.", 201)
        return page, status, {"HX-Retarget": "#messages", "HX-Reswap": "outerHTML"}
    return render_template("chat/_exchange.html", messages=[exchange.question, exchange.reply]), 201


@bp.post("/<int:conversation_id>/settings")
@login_required
def settings(conversation_id: int):
    form = SettingsForm()
    conversation = service.update_settings(current_user, conversation_id, form.title.data, form.system_prompt.data)
    if not is_htmx():
        return redirect(url_for("chat.conversation", conversation_id=conversation_id), 303)
    return render_template(
        "chat/_header.html",
        conversation=conversation,
        settings_form=SettingsForm(title=conversation.title, system_prompt=conversation.system_prompt),
        saved=True,
        project=projects.get_project(current_user, conversation.project_id) if conversation.project_id else None,
        projects=projects.list_projects(current_user),
    )


@bp.get("/messages/<int:message_id>/stream")
@login_required
def stream(message_id: int):
    """Server-sent events: `delta` (escaped text to append) as the model writes, then `done` (the whole message)."""
    reply = service.prepare_reply(current_user, message_id)
    user = current_user._get_current_object()

    def events():
        with closing(reply.events()) as deltas:
            for text in deltas:
                yield sse_event("delta", str(escape(text))) if text else ": keep-alive\n\n"
        message = service.get_message(user, message_id)
        versions = service.outline(message.conversation).versions(message)
        shown = {message.id: versions} if versions.count > 1 else {}
        yield sse_event("done", render_template("chat/_message.html", message=message, message_versions=shown))

    return Response(
        stream_with_context(events()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def sse_event(name: str, data: str) -> str:
    """One server-sent event; each line of `data` gets its own `data:` field, as the format requires."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


@bp.post("/messages/<int:message_id>/stop")
@login_required
def stop(message_id: int):
    message = service.request_stop(current_user, message_id)
    if not is_htmx():
        return redirect(url_for("chat.conversation", conversation_id=message.conversation_id), 303)
    return render_template("chat/_stopping.html", message=message), 202


@bp.post("/messages/<int:message_id>/edit")
@login_required
def edit(message_id: int):
    exchange = service.edit_message(current_user, message_id, request.form.get("message"), request.form.get("model"))
    versions = service.outline(exchange.conversation).versions(exchange.question)
    announce = f"Edited message sent: version {versions.number} of {versions.count}."
    return render_messages(exchange.conversation, announce, 201)


@bp.post("/messages/<int:message_id>/regenerate")
@login_required
def regenerate(message_id: int):
    """Regenerate a reply, or retry one that failed or was stopped: a new version of it."""
    exchange = service.regenerate(current_user, message_id, request.form.get("model"))
    versions = service.outline(exchange.conversation).versions(exchange.reply)
    announce = f"Writing reply version {versions.number} of {versions.count}."
    return render_messages(exchange.conversation, announce, 201)


@bp.post("/messages/<int:message_id>/select")
@login_required
def select_version(message_id: int):
    conversation = service.select_version(current_user, message_id)
    chosen = service.get_message(current_user, message_id)
    versions = service.outline(conversation).versions(chosen)
    what = "question" if chosen.role == "user" else "reply"
    announce = f"Showing version {versions.number} of {versions.count} of this {what}."
    return render_messages(conversation, announce, reaching=chosen.id)


@bp.app_template_global("chat_can_retry")
def can_retry(message) -> bool:
    return service.can_retry(message)


@bp.app_template_global("chat_can_regenerate")
def can_regenerate(message) -> bool:
    return service.can_regenerate(message)


@bp.errorhandler(Refused)
def refused(error: Refused):
    """Over a monthly limit, a message sent is kept with a reply saying why (`service.send_message`), and a Retry
    over the limit keeps its reply: answer 429 with the conversation as stored, so the kept message shows once and
    the composer is empty (left holding the text, it would be sent a second time), and the refusal above it says
    why and when the limit resets. Any other refusal goes the usual way, beside the form that sent it."""
    conversation_id = error.details.get("conversation_id")
    if error.status != 429 or conversation_id is None:
        return error_response(error.status, error.message, **error.details)
    conversation = service.get_conversation(current_user, conversation_id)
    page, status = render_chat(conversation, 429, refusal=error)
    if not is_htmx():
        return page, status
    headers = {"HX-Retarget": "#chat", "HX-Reswap": "outerHTML"}
    if request.endpoint == "chat.start_conversation":  # the page shows the conversation the message started
        headers["HX-Push-Url"] = url_for("chat.conversation", conversation_id=conversation.id)
    return page, status, headers


@bp.errorhandler(413)
def message_too_large(error):
    """A form too large to even parse: still say what the limit is, as for a message just over it."""
    limit = current_app.config["CHAT_MAX_MESSAGE_CHARS"]
    return error_response(413, f"The message is too long; the limit is {limit:,} characters.")
