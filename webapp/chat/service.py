"""Chat rules: models on offer, conversations and messages, replies streamed from the providers.

Pages and the JSON API both call these functions. The user's message and a pending reply are committed before
any provider is called; the reply's outcome (complete, error, interrupted) is written whatever ends the stream.
History search, export and retention live in `history.py`.

What a conversation shows, exports or sends to a model is its current branch, `thread(conversation)` (from
`branches.py`, offered here with the rest of chat's rules), never `conversation.messages` (every version of every
message). Sending appends to the current branch; editing and regenerating add a version beside a message. The chat
page shows a window of the branch (`window()`: its last WINDOW messages, earlier ones on request), read through
the tree's outline (ids and parents), so that a long conversation costs what its window costs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import joinedload

from webapp.attachments import service as attachments
from webapp.auth.models import User
from webapp.bounds import without_nul
from webapp.chat.branches import Versions, outline, thread, tree
from webapp.chat.models import COMPLETE, ERROR, INTERRUPTED, PENDING, Conversation, Message
from webapp.chat.providers import ChatProvider, ChatTurn, ProviderError
from webapp.errors import NotFound, Refused, Unavailable
from webapp.extensions import db
from webapp.governance import service as governance
from webapp.security import owned_or_404
from webapp.timeutil import as_utc, utcnow
from webapp.usage.models import CHAT
from webapp.usage.service import record_usage

log = logging.getLogger(__name__)

NO_PROVIDER_MESSAGE = (
    "No model is configured, so chat is not available yet. An administrator sets OPENAI_API_KEY (OpenAI), "
    "OPENAI_BASE_URL (a local OpenAI-compatible server such as Ollama or llama.cpp) or BEDROCK_MODELS with "
    "AWS_REGION (Amazon Bedrock) and restarts the app."
)
TITLE_LENGTH = 80
MAX_TITLE_LENGTH = 200
# How many messages of a branch the chat page shows at once: the last ones, then as many earlier ones on request.
WINDOW = 60
# How often a running stream looks for the Stop flag, and saves the text so far (the heartbeat).
STOP_CHECK_SECONDS = 0.25
CHECKPOINT_SECONDS = 5.0
# How often a request following a reply that streams elsewhere looks at it again.
FOLLOW_POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
UNEXPECTED_FAILURE = "An unexpected error stopped this reply. It has been logged; try again."
# The finish reason of a reply refused before anything went to the model (over a monthly limit). Its question is
# kept; asking again (Retry, or the same text sent again) answers that question instead of storing it twice.
NOT_SENT = "not_sent"


# -- models on offer ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """One model of one configured provider, as the model picker offers it."""

    provider: str
    model: str
    provider_label: str

    @property
    def value(self) -> str:
        """ "provider:model", the value forms and the API use (model ids may contain ':' themselves)."""
        return f"{self.provider}:{self.model}"

    @property
    def label(self) -> str:
        return f"{self.model} ({self.provider_label})"


def providers() -> dict[str, ChatProvider]:
    return current_app.extensions.get("chat_providers", {})


def model_choices() -> list[ModelChoice]:
    """Every configured model, the default (first provider's first model) first."""
    return [
        ModelChoice(name, model, provider.label)
        for name, provider in providers().items()
        for model in provider.models()
    ]


def is_configured() -> bool:
    return bool(providers())


def resolve_model(value: str | None, conversation: Conversation | None = None) -> ModelChoice:
    """The model `value` names ("provider:model" or a bare model name); by default the conversation's or the first.

    Raises Unavailable when no model is configured at all, Refused (400) for a model that is not offered.
    """
    choices = model_choices()
    if not choices:
        raise Unavailable(NO_PROVIDER_MESSAGE)
    value = (value or "").strip()
    if not value:
        if conversation is not None:
            for choice in choices:
                if (choice.provider, choice.model) == (conversation.provider, conversation.model):
                    return choice
        return choices[0]
    for choice in choices:
        if choice.value == value:
            return choice
    for choice in choices:
        if choice.model == value:
            return choice
    offered = ", ".join(choice.value for choice in choices)
    raise Refused(f"The model {value!r} is not available here. Choose one of: {offered}.", field="model")


# -- input rules -------------------------------------------------------------------------------------------------


def clean_message_text(text: str | None) -> str:
    """The message as it will be stored; refuses an empty message (400) and one over the limit (413).

    NUL characters are dropped: PostgreSQL cannot store them in text, and they mean nothing in a message."""
    text = _clean_text(text, "message", "The message")
    if not text:
        raise Refused("Type a message before sending it.", field="message")
    return text


def clean_system_prompt(text: str | None) -> str | None:
    return _clean_text(text, "system_prompt", "The system prompt") or None


def _clean_text(text: str | None, field: str, what: str) -> str:
    """Text as stored (no NUL, Unix line ends, trimmed); refused (413) past CHAT_MAX_MESSAGE_CHARS."""
    text = without_nul(text or "").replace("\r\n", "\n").strip()
    limit = current_app.config["CHAT_MAX_MESSAGE_CHARS"]
    if len(text) > limit:
        raise Refused(
            f"{what} is {len(text):,} characters long; the limit is {limit:,} characters.",
            status=413,
            field=field,
            limit=limit,
        )
    return text


def clean_title(title: str | None) -> str:
    title = " ".join(without_nul(title or "").split())
    if not title:
        raise Refused("The title cannot be empty.", field="title")
    if len(title) > MAX_TITLE_LENGTH:
        raise Refused(f"The title can be at most {MAX_TITLE_LENGTH} characters long.", field="title")
    return title


def title_from(text: str) -> str:
    """A title from the first message: its words on one line, cut at a word near TITLE_LENGTH characters."""
    words = " ".join(text.split())
    if len(words) <= TITLE_LENGTH:
        return words
    cut = words[: TITLE_LENGTH - 1]
    if " " in cut[TITLE_LENGTH // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,.;:") + "…"


# -- conversations -----------------------------------------------------------------------------------------------


def get_conversation(user: User, conversation_id: int) -> Conversation:
    """The user's conversation, or 404; a last reply whose stream died with its worker is shown interrupted.

    Its messages are not loaded: the branch's last one is found by its id (a long conversation's page shows a
    window of it, `window()`; exports and the API read the whole branch when they need it)."""
    conversation = owned_or_404(Conversation, conversation_id, user)
    last = last_message_status(conversation)
    if last is not None and last[1] == PENDING:
        message = db.session.get(Message, last[0])
        if message is not None:
            expire_if_stale(message)
    return conversation


def last_message_status(conversation: Conversation) -> tuple[int, str] | None:
    """The id and status of the last message of the branch shown: its current_message_id, or (unset, or not one
    of its messages) its newest message, as `Tree.current_leaf` has it. One row, read by its key."""
    of_conversation = Message.conversation_id == conversation.id
    if conversation.current_message_id is not None:
        current = db.session.execute(
            select(Message.id, Message.status).where(of_conversation, Message.id == conversation.current_message_id)
        ).first()
        if current is not None:
            return current.id, current.status
    newest = db.session.execute(
        select(Message.id, Message.status).where(of_conversation).order_by(Message.id.desc()).limit(1)
    ).first()
    return (newest.id, newest.status) if newest is not None else None


@dataclass(frozen=True)
class Window:
    """The messages of the branch the chat page shows: `messages` (loaded whole, in order), their ‹ n/m ›, and
    `earlier_before`, the first one's id when the branch has earlier messages (None at its start)."""

    messages: list[Message]
    versions: dict[int, Versions]
    earlier_before: int | None
    earlier_count: int


def window(
    conversation: Conversation,
    before: int | None = None,
    *,
    through_end: bool = False,
    reaching: int | None = None,
    size: int = WINDOW,
) -> Window:
    """The `size` messages of the current branch that come just before message `before` (the last ones when None),
    extended back to message `reaching` when it is further up (the version ‹ › just chose must stay on screen), and
    on down to the branch's end with `through_end` (the page shown by the no-script "Show earlier messages" link).

    A keyset by position in the branch, not an OFFSET: the branch is walked in the outline, and only the window's
    messages are read whole, with their attachments and sources. A `before` that is not on the branch shown (it was
    switched meanwhile) is a 404 saying so."""
    branches = outline(conversation)
    ids = [node.id for node in branches.thread]
    end = len(ids)
    if before is not None:
        if before not in ids:
            raise NotFound("That message is not in the branch this conversation shows now. Reload the conversation.")
        end = ids.index(before)
    start = max(end - size, 0)
    if reaching is not None and reaching in ids:
        start = min(start, ids.index(reaching))
    shown_ids = ids[start : len(ids) if through_end else end]
    query = select(Message).where(Message.id.in_(shown_ids))
    loaded = {message.id: message for message in db.session.scalars(query)} if shown_ids else {}
    return Window(
        messages=[loaded[message_id] for message_id in shown_ids],
        versions=branches.versions_of([branches.by_id[message_id] for message_id in shown_ids]),
        earlier_before=shown_ids[0] if start > 0 else None,
        earlier_count=start,
    )


def get_message(user: User, message_id: int) -> Message:
    """A message of one of the user's conversations, or 404 (never 403)."""
    # One query for the message and its conversation: the owner check needs both, and streams start here.
    return owned_or_404(
        Message,
        message_id,
        user,
        owner=lambda message: message.conversation.user_id,
        options=[joinedload(Message.conversation)],
    )


def recent_conversations(user: User, limit: int = 5) -> list[Conversation]:
    return list(
        db.session.scalars(
            select(Conversation)
            .where(Conversation.user_id == user.id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
            .limit(limit)
        )
    )


def rename(user: User, conversation_id: int, title: str | None) -> Conversation:
    conversation = get_conversation(user, conversation_id)
    conversation.title = clean_title(title)
    db.session.commit()
    return conversation


def update_settings(user: User, conversation_id: int, title: str | None, system_prompt: str | None) -> Conversation:
    """Rename the conversation and set (or clear) its system prompt, for the replies to come."""
    conversation = get_conversation(user, conversation_id)
    conversation.title = clean_title(title)
    conversation.system_prompt = clean_system_prompt(system_prompt)
    db.session.commit()
    return conversation


def set_pinned(user: User, conversation_id: int, pinned: bool) -> Conversation:
    conversation = get_conversation(user, conversation_id)
    conversation.pinned = pinned
    db.session.commit()
    return conversation


def delete_conversation(user: User, conversation_id: int) -> None:
    conversation = get_conversation(user, conversation_id)
    delete_conversations([conversation.id])
    db.session.commit()


def delete_conversations(conversation_ids: list[int]) -> int:
    """Delete conversations and their messages (explicitly: SQLite does not enforce the cascade by itself)."""
    if not conversation_ids:
        return 0
    attachments.forget_conversations(conversation_ids)
    # Other features' rows that hang off a conversation (a share's snapshot) go first, as each registered.
    for delete_dependents in current_app.extensions.get("conversation_dependents", ()):
        delete_dependents(conversation_ids)
    db.session.execute(delete(Message).where(Message.conversation_id.in_(conversation_ids)))
    result = db.session.execute(delete(Conversation).where(Conversation.id.in_(conversation_ids)))
    return result.rowcount or 0


def _show(conversation: Conversation, leaf: Message) -> None:
    """Make the branch ending at `leaf` the one the conversation shows (its id must be known: flushed)."""
    conversation.current_message_id = leaf.id


def _add(message: Message) -> Message:
    """Add a message and give it its id now, so the next one can follow it."""
    db.session.add(message)
    db.session.flush()
    return message


# -- sending -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """A question and its reply, the reply still pending."""

    conversation: Conversation
    question: Message
    reply: Message
    created_conversation: bool
    # The question was one kept unanswered (refused over a limit) and sent again: it was not stored a second time.
    asked_again: bool = False


def send_message(
    user: User,
    text: str | None,
    conversation_id: int | None = None,
    model: str | None = None,
    system_prompt: str | None = None,
    project_id: int | None = None,
    file_ids: Sequence[int] | None = None,
) -> Exchange:
    """Save the user's message and a pending reply in one transaction; the reply is streamed afterwards.

    A new conversation is started when `conversation_id` is None; its title comes from the message. A given
    `system_prompt` replaces the conversation's. A new conversation starts in the user's project `project_id`
    (another user's is a 404), with the project's default model unless `model` names one. `file_ids` attaches files
    of the user's library (404 for anyone else's). Nothing is stored when the message is refused, except over a
    monthly limit (429): the message is kept, with a reply saying why. Sending that same text to the conversation
    again then answers the kept message (as Retry does, `regenerate`) instead of storing it twice.
    """
    text = clean_message_text(text)
    conversation = get_conversation(user, conversation_id) if conversation_id is not None else None
    system = clean_system_prompt(system_prompt) if system_prompt is not None else None
    project = project_for_new_conversation(user, project_id) if conversation is None else None
    attached = attachments.owned_files(user, file_ids)
    preferred = project_model(project) if project is not None else None  # the project's default model
    choice = governance.choose_model(user, model, conversation, preferred=preferred)  # 403 naming those allowed
    attachments.refuse_images_unseen(attached, choice.provider, choice.model)
    if conversation is not None:
        refuse_if_replying(conversation)
        kept = unsent_reply_to(conversation, text) if not attached else None
        if kept is not None:
            # The same message again after a refusal that kept it (a second click, a resent form, an API client
            # retrying): ask about the kept question, as Retry does, instead of storing it twice.
            if system_prompt is not None:
                conversation.system_prompt = system
            return replace(regenerate(user, kept.id, choice.value), asked_again=True)

    now = utcnow()
    created = conversation is None
    parent_id = None
    if conversation is None:
        conversation = Conversation(
            user_id=user.id,
            title=title_from(text),
            provider=choice.provider,
            model=choice.model,
            system_prompt=system,
            project_id=project.id if project is not None else None,
            created_at=now,
            updated_at=now,
        )
        db.session.add(conversation)
    else:
        conversation.provider, conversation.model = choice.provider, choice.model
        if system_prompt is not None:
            conversation.system_prompt = system
        conversation.updated_at = now
        shown = thread(conversation)
        parent_id = shown[-1].id if shown else None
    question, reply = _ask(conversation, parent_id, text, choice)
    if attached:
        attachments.attach(question.id, attached)
    try:
        governance.check_budget(user)
    except Refused as over_budget:
        # Over a monthly limit (429): the message is kept as always, its reply says why, nothing goes upstream.
        reply.status, reply.error, reply.completed_at, reply.finish_reason = ERROR, over_budget.message, now, NOT_SENT
        db.session.commit()
        over_budget.details.update(ask_again_details(conversation, reply))
        raise
    db.session.commit()
    return Exchange(conversation, question, reply, created)


def unsent_reply_to(conversation: Conversation, text: str) -> Message | None:
    """The last reply of the branch shown when it was refused unsent (NOT_SENT) and its question says `text`."""
    shown = thread(conversation)
    if len(shown) < 2:
        return None
    question, reply = shown[-2:]
    if reply.status == ERROR and reply.finish_reason == NOT_SENT and question.content == text:
        return reply
    return None


def ask_again_details(conversation: Conversation, reply: Message) -> dict[str, Any]:
    """What a 429 says about the message it kept: where it is, and the regenerate operation that answers it once
    the limit allows (`retry`, for API clients; the pages show the reply's Retry button)."""
    return {
        "conversation_id": conversation.id,
        "message_id": reply.id,
        "retry": f"/api/messages/{reply.id}/regenerate",
    }


def project_for_new_conversation(user: User, project_id: int | None):
    """The user's project a new conversation starts in (None for none); another user's is a 404."""
    if project_id is None:
        return None
    from webapp.projects import service as projects  # projects build on chat: imported when used

    return projects.get_project(user, project_id)


def project_model(project) -> str | None:
    from webapp.projects import service as projects

    return projects.default_model(project)


def _ask(conversation: Conversation, parent_id: int | None, text: str, choice: ModelChoice) -> tuple[Message, Message]:
    """The question after `parent_id` and its pending reply, shown as the conversation's current branch."""
    now = utcnow()
    question = _add(
        Message(
            conversation=conversation,
            parent_id=parent_id,
            role="user",
            content=text,
            status=COMPLETE,
            created_at=now,
            completed_at=now,
        )
    )
    reply = _add(pending_reply(conversation, choice, parent_id=question.id))
    _show(conversation, reply)
    return question, reply


def pending_reply(conversation: Conversation, choice: ModelChoice, parent_id: int | None = None) -> Message:
    return Message(
        conversation=conversation,
        parent_id=parent_id,
        role="assistant",
        content="",
        status=PENDING,
        provider=choice.provider,
        model=choice.model,
        created_at=utcnow(),
    )


def refuse_if_replying(conversation: Conversation) -> None:
    """One reply at a time per conversation: the next question should see the previous answer."""
    for message in thread(conversation):
        if message.status == PENDING and not expire_if_stale(message):
            raise Refused(
                "The previous reply is still being written. Wait for it to finish, or stop it, then send again.",
                status=409,
            )


def edit_message(user: User, message_id: int, text: str | None, model: str | None = None) -> Exchange:
    """A new version of one of the user's questions, and a new reply to it, shown from now on.

    The new version follows what the earlier one followed (a sibling); the earlier version and everything after it
    are kept as another branch, one step away with ‹ ›."""
    earlier = get_message(user, message_id)
    if earlier.role != "user":
        raise Refused("Only a message you sent can be edited; regenerate a reply instead.", status=409)
    text = clean_message_text(text)
    conversation = earlier.conversation
    choice = governance.choose_model(user, model, conversation)
    refuse_if_replying(conversation)
    governance.check_budget(user)  # 429 over a monthly limit: nothing is stored, nothing is sent
    conversation.provider, conversation.model = choice.provider, choice.model
    conversation.updated_at = utcnow()
    question, reply = _ask(conversation, earlier.parent_id, text, choice)
    db.session.commit()
    return Exchange(conversation, question, reply, False)


def regenerate(user: User, message_id: int, model: str | None = None) -> Exchange:
    """Ask again for a reply: a new pending reply to the same question, shown from now on.

    The earlier reply (complete, failed or stopped) is kept, with whatever followed it, as another branch."""
    earlier = get_message(user, message_id)
    if earlier.role != "assistant":
        raise Refused("Only a reply can be regenerated; edit your message instead.", status=409)
    conversation = earlier.conversation
    choice = governance.choose_model(user, model, conversation)
    refuse_if_replying(conversation)
    try:
        governance.check_budget(user)
    except Refused as over_budget:
        # 429 over a monthly limit: nothing is stored, nothing is sent; the same reply can be asked again later.
        over_budget.details.update(ask_again_details(conversation, earlier))
        raise
    if earlier.status == PENDING and not expire_if_stale(earlier):
        raise Refused("This reply is still being written. Wait for it to finish, or stop it.", status=409)
    question = db.session.get(Message, earlier.parent_id) if earlier.parent_id else None
    if question is None:
        raise Refused("This reply answers no question, so it cannot be regenerated.", status=409)
    conversation.provider, conversation.model = choice.provider, choice.model
    conversation.updated_at = utcnow()
    reply = _add(pending_reply(conversation, choice, parent_id=question.id))
    _show(conversation, reply)
    db.session.commit()
    return Exchange(conversation, question, reply, False)


def select_version(user: User, message_id: int) -> Conversation:
    """Show the branch through `message_id` (one of the versions ‹ › steps through), down to its newest message."""
    message = get_message(user, message_id)
    conversation = message.conversation
    refuse_if_replying(conversation)
    _show(conversation, tree(conversation).latest_leaf(message))
    db.session.commit()
    return conversation


def can_retry(message: Message) -> bool:
    """The Retry button: on a reply that failed or was stopped."""
    return message.role == "assistant" and message.failed


def can_regenerate(message: Message) -> bool:
    """The Regenerate button: on a reply that is finished (a failed one is retried, which is the same)."""
    return message.role == "assistant" and message.status == COMPLETE


def request_stop(user: User, message_id: int) -> Message:
    """Stop a reply. The flag lives in the database, so the stream sees it whichever worker process runs it."""
    message = get_message(user, message_id)
    if message.status != PENDING:
        return message
    # Not streaming yet (its page was closed before the stream began): end it here.
    ended = db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == PENDING, Message.started_at.is_(None))
        .values(status=INTERRUPTED, completed_at=utcnow(), stop_requested=True)
    ).rowcount
    if not ended:
        db.session.execute(update(Message).where(Message.id == message.id).values(stop_requested=True))
    db.session.commit()
    db.session.refresh(message)
    if message.status == PENDING:
        expire_if_stale(message)
    return message


# -- the conversation as the model sees it -----------------------------------------------------------------------


def compose_system_prompt(project_instructions: str | None, system_prompt: str | None) -> str | None:
    """One system prompt: the project's instructions first, then the conversation's own (either may be missing)."""
    parts = [part for part in (project_instructions, system_prompt) if part]
    return "\n\n".join(parts) or None


def system_prompt_for(conversation: Conversation) -> str | None:
    """What a conversation's model is told first: its project's instructions, then its own system prompt."""
    instructions = None
    if conversation.project_id is not None:
        from webapp.projects.models import Project

        instructions = db.session.scalar(select(Project.instructions).where(Project.id == conversation.project_id))
    return compose_system_prompt(instructions, conversation.system_prompt)


def trim_context(system_prompt: str | None, turns: list[ChatTurn], budget_chars: int) -> list[ChatTurn]:
    """The system prompt, then the newest turns that fit in `budget_chars` (the newest one always).

    The oldest turns go first; the kept history starts with a user turn, as Bedrock requires.
    """
    used = len(system_prompt or "")
    kept: list[ChatTurn] = []
    for turn in reversed(turns):
        if kept and used + len(turn.content) > budget_chars:
            break
        kept.append(turn)
        used += len(turn.content)
    kept.reverse()
    while len(kept) > 1 and kept[0].role != "user":
        kept.pop(0)
    return ([ChatTurn("system", system_prompt)] if system_prompt else []) + kept


def turns_before(conversation_id: int, system_prompt: str | None, reply_id: int) -> list[ChatTurn]:
    """What the model is sent for the reply `reply_id`: the questions of its branch, and the replies worth building
    on (other branches, edited away or regenerated, are not part of it)."""
    rows = db.session.execute(
        select(Message.id, Message.parent_id, Message.role, Message.content, Message.status)
        .where(Message.conversation_id == conversation_id, Message.id <= reply_id)
        .order_by(Message.id)
    ).all()
    by_id = {row.id: row for row in rows}
    branch = []
    row = by_id.get(reply_id)
    while row is not None and row.parent_id in by_id and len(branch) < len(rows):
        row = by_id[row.parent_id]
        branch.append(row)
    turns: list[ChatTurn] = []
    for _id, _parent_id, role, content, status in reversed(branch):
        if role == "user":
            turns.append(ChatTurn("user", content))
        elif status == COMPLETE or (status == INTERRUPTED and content.strip()):
            turns.append(ChatTurn("assistant", content))
    return trim_context(system_prompt, turns, current_app.config["CHAT_CONTEXT_CHARS"])


def reply_turns(message: Message) -> list[ChatTurn]:
    """What the model is sent for the reply `message`: the conversation and, when files are attached to it, their
    excerpts (numbered to be cited, kept as the reply's sources) and images (with the newest question)."""
    conversation = message.conversation
    question = db.session.scalar(
        select(Message.content)
        .where(Message.conversation_id == conversation.id, Message.role == "user", Message.id < message.id)
        .order_by(Message.id.desc())
        .limit(1)
    )
    system_prompt = system_prompt_for(conversation)
    files = attachments.reply_context(
        conversation, message.id, question or "", system_prompt, message.provider or "", message.model or ""
    )
    system = "\n\n".join(part for part in (system_prompt, files.block()) if part) or None
    turns = turns_before(conversation.id, system, message.id)
    if files.images and turns and turns[-1].role == "user":
        turns[-1] = replace(turns[-1], images=tuple(files.images))
    return turns


# -- streaming a reply -------------------------------------------------------------------------------------------


def stale_after() -> timedelta:
    """How long a reply may go without a sign of life before its stream is taken for dead.

    The longest silence of a healthy stream is a first token after every retry has timed out.
    """
    config = current_app.config
    attempts = config["CHAT_MAX_RETRIES"] + 1
    read_timeout = config["CHAT_READ_TIMEOUT"]
    first_token = (config["CHAT_CONNECT_TIMEOUT"] + read_timeout) * attempts
    # While text arrives the heartbeat is saved every CHECKPOINT_SECONDS, so that gap counts as silence too.
    between_heartbeats = CHECKPOINT_SECONDS + read_timeout
    return timedelta(seconds=max(first_token, between_heartbeats) + config["CHAT_STALE_GRACE_SECONDS"])


def expire_if_stale(message: Message) -> bool:
    """Mark a pending reply whose stream died (a killed worker) as interrupted; True when it was stale."""
    if message.status != PENDING or message.started_at is None:
        return False
    last_sign = as_utc(message.heartbeat_at or message.started_at)
    if utcnow() - last_sign < stale_after():
        return False
    db.session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status == PENDING)
        .values(
            status=INTERRUPTED,
            completed_at=utcnow(),
            error="The reply stopped arriving: the server handling it went away.",
        )
    )
    db.session.commit()
    db.session.refresh(message)
    return True


def stream_from_model(
    provider: ChatProvider,
    turns: list[ChatTurn],
    model: str,
    *,
    finish: Callable[..., None],
    failed: Callable[[Exception], None],
    close_failed: Callable[[Exception], None],
    stop_requested: Callable[[], bool] | None = None,
    checkpoint: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Yield a model's text deltas; whatever ends the stream (its end, a failure, the consumer going away), call
    `finish(status, text, error=, latency_ms=, prompt_tokens=, completion_tokens=, finish_reason=)` once.

    The one streaming loop of stored replies (`ReplyStream`) and temporary chats (`temporary.TemporaryReply`).
    A stored reply passes `stop_requested` (asked every STOP_CHECK_SECONDS; True ends the stream, interrupted)
    and `checkpoint` (given the text so far every CHECKPOINT_SECONDS); a temporary chat passes neither, so nothing
    is written while it streams. The caller logs an unexpected failure (`failed`, inside the except clause; the
    reader is shown UNEXPECTED_FAILURE) and a stream that would not close (`close_failed`) in its own words: a
    temporary chat's log lines name the exception's kind only, never its message, which could quote the chat.
    """
    parts: list[str] = []
    status, error = INTERRUPTED, None
    usage: dict[str, Any] = {}
    started = time.perf_counter()
    next_stop_check = started + STOP_CHECK_SECONDS
    next_checkpoint = started + CHECKPOINT_SECONDS
    chunks = provider.stream(turns, model)
    try:
        for chunk in chunks:
            if chunk.final:
                status = COMPLETE
                usage = {
                    "prompt_tokens": chunk.prompt_tokens,
                    "completion_tokens": chunk.completion_tokens,
                    "finish_reason": chunk.finish_reason,
                }
                break
            if chunk.text:
                parts.append(chunk.text)
                yield chunk.text
            now = time.perf_counter()
            if stop_requested is not None and now >= next_stop_check:
                next_stop_check = now + STOP_CHECK_SECONDS
                if stop_requested():
                    break
            if checkpoint is not None and now >= next_checkpoint:
                next_checkpoint = now + CHECKPOINT_SECONDS
                checkpoint("".join(parts))
    except ProviderError as failure:
        status, error = ERROR, failure.message
    except GeneratorExit:
        # The browser went away (tab closed, Stop by disconnect): what arrived is kept (a temporary chat's by the
        # page).
        status = INTERRUPTED
        raise
    except Exception as failure:
        failed(failure)
        status, error = ERROR, UNEXPECTED_FAILURE
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            try:
                close()
            except Exception as failure:
                close_failed(failure)
        finish(status, "".join(parts), error=error, latency_ms=int((time.perf_counter() - started) * 1000), **usage)


def prepare_reply(user: User, message_id: int) -> ReplyStream:
    """Check that the reply is the user's (404 otherwise), before any streaming starts."""
    message = get_message(user, message_id)
    if message.role != "assistant":
        raise NotFound("There is no such reply.")
    return ReplyStream(message.id)


class ReplyStream:
    """Streams one reply: `events()` yields text deltas ("" is a keep-alive) and persists how it ended.

    Whoever iterates first claims the reply (an atomic update), so a second window on the same conversation
    follows the first stream's outcome instead of asking the model twice. No database connection is held
    while waiting on the model: 100 streams need 100 threads, not 100 connections.
    """

    def __init__(self, message_id: int) -> None:
        self.message_id = message_id

    def events(self) -> Iterator[str]:
        message = db.session.get(Message, self.message_id)
        if message is None or message.status != PENDING:
            db.session.commit()
            return
        expire_if_stale(message)
        now = utcnow()
        claimed = db.session.execute(
            update(Message)
            .where(Message.id == self.message_id, Message.status == PENDING, Message.started_at.is_(None))
            .values(started_at=now, heartbeat_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            db.session.commit()
            yield from self._follow()
            return
        provider_name, model = message.provider or "", message.model or ""
        provider = providers().get(provider_name)
        turns = reply_turns(message)
        # Committed before the model is called: no database connection is held while it thinks. The ORM objects
        # are expired now and are not touched again in this stream (only plain values from here on).
        db.session.commit()
        if provider is None:
            self._finish(
                ERROR,
                "",
                error=(f"The model service {provider_name!r} is no longer configured here. Retry with another model."),
                reached_model=False,
            )
            return
        yield from self._stream(provider, turns, model)

    def _stream(self, provider: ChatProvider, turns: list[ChatTurn], model: str) -> Iterator[str]:
        yield from stream_from_model(
            provider,
            turns,
            model,
            finish=self._finish,
            failed=self._log_failure,
            close_failed=self._log_close_failure,
            stop_requested=self._stop_requested,
            checkpoint=self._checkpoint,
        )

    def _log_failure(self, failure: Exception) -> None:
        log.exception("reply %s failed unexpectedly", self.message_id)

    def _log_close_failure(self, failure: Exception) -> None:
        # Closing a broken HTTP response must not hide the outcome.
        log.warning("closing the stream of reply %s failed", self.message_id, exc_info=True)

    def _follow(self) -> Iterator[str]:
        """Another request streams this reply: wait for its outcome (or its death), with keep-alives."""
        last_keepalive = time.monotonic()
        while True:
            message = db.session.get(Message, self.message_id)
            if message is None or message.status != PENDING or expire_if_stale(message):
                db.session.commit()
                return
            db.session.commit()
            time.sleep(FOLLOW_POLL_SECONDS)
            if time.monotonic() - last_keepalive >= KEEPALIVE_SECONDS:
                last_keepalive = time.monotonic()
                yield ""

    def _stop_requested(self) -> bool:
        try:
            return bool(db.session.scalar(select(Message.stop_requested).where(Message.id == self.message_id)))
        finally:
            db.session.rollback()

    def _checkpoint(self, text: str) -> None:
        """Save the text so far and a heartbeat, so a killed worker loses little and is noticed."""
        try:
            db.session.execute(
                update(Message)
                .where(Message.id == self.message_id, Message.status == PENDING)
                .values(content=text, heartbeat_at=utcnow())
            )
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.warning("saving the progress of reply %s failed", self.message_id, exc_info=True)

    def _finish(
        self,
        status: str,
        text: str,
        *,
        error: str | None = None,
        latency_ms: int | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        finish_reason: str | None = None,
        reached_model: bool = True,
    ) -> None:
        """Write the outcome once (only a reply still pending is updated), touch its conversation, and count the
        request in the usage ledger when it reached a model (with the tokens the provider reported, if any)."""
        now = utcnow()
        try:
            db.session.rollback()
            result = db.session.execute(
                update(Message)
                .where(Message.id == self.message_id, Message.status == PENDING)
                .values(
                    status=status,
                    content=text,
                    error=error,
                    latency_ms=latency_ms,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    finish_reason=finish_reason,
                    completed_at=now,
                    heartbeat_at=now,
                )
            )
            if result.rowcount:
                conversation_id, user_id, provider, model = db.session.execute(
                    select(Message.conversation_id, Conversation.user_id, Message.provider, Message.model)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .where(Message.id == self.message_id)
                ).one()
                db.session.execute(
                    update(Conversation).where(Conversation.id == conversation_id).values(updated_at=now)
                )
                if reached_model:
                    # In the same transaction as the outcome: a reply is counted once, and only if it was saved.
                    record_usage(user_id, provider or "", model or "", prompt_tokens, completion_tokens, CHAT)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("could not save the outcome (%s) of reply %s", status, self.message_id)


def complete_reply(user: User, message_id: int) -> Message:
    """Run a reply to its end without streaming it anywhere (the JSON API); 503 when the model service failed."""
    stream = prepare_reply(user, message_id)
    for _ in stream.events():
        pass
    reply = get_message(user, message_id)
    db.session.refresh(reply)
    if reply.status != COMPLETE:
        raise Unavailable(
            reply.error or "The reply was interrupted before it was complete.",
            conversation_id=reply.conversation_id,
            message_id=reply.id,
        )
    return reply
