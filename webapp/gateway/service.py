"""The gateway's rules: which model a call goes to, what is kept of it, what is counted.

A call is routed by its model id to the configured provider that offers it (`chat.service.resolve_model`: a bare
model name, or "provider:model" where two providers offer the same name). The messages the client sent go to the
model as they are (the client keeps the conversation; nothing is trimmed or added), with the sampling settings it
chose (`SamplingOptions`: temperature, top_p, the token limit, stop sequences), translated by the provider. With a
token that keeps history, the call is stored before the model is asked, as an API conversation of the caller: the
messages sent and a pending reply, written with its outcome when the stream ends, like a reply on the chat page.
With a token made "do not keep history" nothing of the text is stored. Either way the request is counted in the
usage ledger (source "gateway") with the tokens the provider reported, in the same transaction as the outcome.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, update

from webapp.auth.models import ApiToken, User
from webapp.bounds import without_nul
from webapp.chat import service as chat
from webapp.chat.models import COMPLETE, ERROR, INTERRUPTED, PENDING, Conversation, Message
from webapp.chat.providers import ChatProvider, ChatTurn, ProviderError, SamplingOptions
from webapp.errors import NotFound, Refused
from webapp.extensions import db
from webapp.gateway.schemas import ChatMessage, CompletionRequest
from webapp.governance import service as governance
from webapp.timeutil import utcnow
from webapp.usage.models import GATEWAY
from webapp.usage.service import record_usage

log = logging.getLogger(__name__)

# Conversation.origin of a call through the gateway.
ORIGIN = "gateway"
# How a provider's failure is answered, by its kind (webapp.chat.providers.base.ErrorKind).
FAILURE_STATUS = {
    "timeout": 504,
    "auth": 502,
    "rate_limit": 429,
    "unavailable": 503,
    "bad_request": 400,
    "connection": 502,
}


@dataclass(frozen=True)
class GatewayModel:
    """A model as /v1/models lists it: the id clients send, and the provider that serves it."""

    id: str
    choice: chat.ModelChoice


def models(user: User | None = None) -> list[GatewayModel]:
    """Every configured model (those `user` may use, when given), under the id a client sends: the bare name, or
    "provider:model" when two providers offer the same name (`resolve_model` takes either)."""
    configured = chat.model_choices()
    names = [choice.model for choice in configured]
    choices = configured if user is None else governance.allowed_models(user, configured)
    return [
        GatewayModel(choice.model if names.count(choice.model) == 1 else choice.value, choice) for choice in choices
    ]


def resolve(model_id: str) -> chat.ModelChoice:
    """The model a call asks for; NotFound (as OpenAI answers an unknown model) when none is configured so."""
    try:
        return chat.resolve_model(model_id)
    except Refused:
        offered = ", ".join(model.id for model in models())
        raise NotFound(
            f"The model {model_id!r} does not exist here. Choose one of: {offered}.", code="model_not_found"
        ) from None


def turns_of(messages: list[ChatMessage]) -> list[ChatTurn]:
    """The client's messages as the providers take them; text parts only (refused otherwise, naming the message)."""
    turns = []
    for index, message in enumerate(messages):
        content = message.content
        if isinstance(content, list):
            if any(part.type != "text" or part.text is None for part in content):
                raise Refused(
                    f"'messages.{index}.content' may hold only text parts here.", field=f"messages.{index}.content"
                )
            content = "".join(part.text or "" for part in content)
        text = without_nul(content or "")
        role = "system" if message.role == "developer" else message.role
        turns.append(ChatTurn(role, text))  # type: ignore[arg-type]
    if not any(turn.role == "user" for turn in turns):
        raise Refused("'messages' must hold at least one message with the role 'user'.", field="messages")
    return turns


def sampling_of(request: CompletionRequest) -> SamplingOptions | None:
    """The sampling settings the client chose (ranges already checked by the schema), None when it chose none."""
    limits = (request.max_tokens, request.max_completion_tokens)
    if None not in limits and limits[0] != limits[1]:
        raise Refused(
            "'max_tokens' and 'max_completion_tokens' are one limit under its old and new name: send one of them "
            f"(here {limits[0]} and {limits[1]}).",
            field="max_completion_tokens",
        )
    options = SamplingOptions(
        temperature=request.temperature,
        top_p=request.top_p,
        max_tokens=request.max_tokens,
        max_completion_tokens=request.max_completion_tokens,
        stop=tuple(request.stop) if isinstance(request.stop, list) else request.stop,
    )
    return None if options == SamplingOptions() else options


@dataclass
class Call:
    """One call through the gateway, checked and (with history) stored, not yet sent to the model."""

    user_id: int
    provider_name: str
    model: str
    model_id: str
    provider: ChatProvider
    turns: list[ChatTurn]
    reply_id: int | None  # the stored pending reply; None when the token keeps no history
    options: SamplingOptions | None  # the sampling settings to pass on; None: the model's defaults
    id: str = field(default_factory=lambda: f"chatcmpl-{secrets.token_hex(12)}")
    created: int = field(default_factory=lambda: int(time.time()))
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None

    @property
    def usage(self) -> dict[str, int]:
        prompt, completion = self.prompt_tokens or 0, self.completion_tokens or 0
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def stream(self) -> Iterator[str]:
        """The reply's text deltas from the provider. Whatever ends it (the end, a failure, the client leaving),
        the outcome is written once: the stored reply (with history) and the usage row, in one transaction."""
        parts: list[str] = []
        status, error = INTERRUPTED, None
        started = time.perf_counter()
        chunks = self.provider.stream(self.turns, self.model, self.options)
        try:
            for chunk in chunks:
                if chunk.final:
                    status = COMPLETE
                    self.prompt_tokens, self.completion_tokens = chunk.prompt_tokens, chunk.completion_tokens
                    self.finish_reason = chunk.finish_reason or "stop"
                    break
                if chunk.text:
                    parts.append(chunk.text)
                    yield chunk.text
        except ProviderError as failure:
            status, error = ERROR, failure.message
            raise
        except GeneratorExit:
            status = INTERRUPTED  # the client went away: keep what arrived
            raise
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # closing a broken HTTP response must not hide the outcome
                    log.warning("closing the gateway stream %s failed", self.id, exc_info=True)
            self.text = "".join(parts)
            self._finish(status, error, int((time.perf_counter() - started) * 1000))

    def _finish(self, status: str, error: str | None, latency_ms: int) -> None:
        now = utcnow()
        try:
            db.session.rollback()
            if self.reply_id is not None:
                db.session.execute(
                    update(Message)
                    .where(Message.id == self.reply_id, Message.status == PENDING)
                    .values(
                        status=status,
                        content=self.text,
                        error=error,
                        latency_ms=latency_ms,
                        prompt_tokens=self.prompt_tokens,
                        completion_tokens=self.completion_tokens,
                        finish_reason=self.finish_reason,
                        completed_at=now,
                        heartbeat_at=now,
                    )
                )
                db.session.execute(
                    update(Conversation)
                    .where(Conversation.id == select_conversation_of(self.reply_id))
                    .values(updated_at=now)
                )
            record_usage(
                self.user_id, self.provider_name, self.model, self.prompt_tokens, self.completion_tokens, GATEWAY
            )
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("could not save the outcome (%s) of gateway call %s", status, self.id)


def select_conversation_of(reply_id: int) -> Any:
    return db.select(Message.conversation_id).where(Message.id == reply_id).scalar_subquery()


def start(user: User, token: ApiToken, request: CompletionRequest) -> Call:
    """Check a call (model, messages, sampling settings) and, when `token` keeps history, store it as the caller's
    API conversation with a pending reply, before anything is sent to the model. Commits, so no connection is held
    while it thinks."""
    choice = resolve(request.model)
    governance.check_model_allowed(user, choice)  # 403 naming the models the caller may use
    turns = turns_of(request.messages)
    options = sampling_of(request)
    provider = chat.providers()[choice.provider]
    governance.check_budget(user)  # 429 over a monthly limit: nothing is stored or sent upstream
    reply_id = _store(user, choice, turns) if token.keep_history else None
    call = Call(user.id, choice.provider, choice.model, request.model, provider, turns, reply_id, options)
    db.session.commit()  # after reading the user's id: the commit expires what the session holds
    return call


def _store(user: User, choice: chat.ModelChoice, turns: list[ChatTurn]) -> int:
    """The call as the caller's API conversation: the messages sent, then a pending reply; its id. Two Core
    INSERTs, not the session's unit of work: this runs before the model is asked, on every call that keeps
    history."""
    now = utcnow()
    system = "\n\n".join(turn.content for turn in turns if turn.role == "system") or None
    said = [turn for turn in turns if turn.role != "system"]
    first_question = next(turn.content for turn in said if turn.role == "user")
    conversations, messages = Conversation.__table__, Message.__table__  # Core: no ORM bookkeeping for new rows
    conversation_id = db.session.execute(
        insert(conversations)
        .values(
            user_id=user.id,
            title=chat.title_from(first_question) or "API call",
            provider=choice.provider,
            model=choice.model,
            system_prompt=system,
            origin=ORIGIN,
            created_at=now,
            updated_at=now,
        )
        .returning(conversations.c.id)
    ).scalar_one()

    def message(role: str, content: str, **state: Any) -> dict[str, Any]:
        # Every row with the same keys: the messages go in as one INSERT.
        sent = {"status": COMPLETE, "provider": None, "model": None, "started_at": None, "heartbeat_at": None}
        timed = {"created_at": now, "completed_at": now}
        return {"conversation_id": conversation_id, "role": role, "content": content, **sent, **timed, **state}

    rows = [message(turn.role, turn.content) for turn in said]
    # The reply is claimed at once (started, with a heartbeat): no page stream takes it over, and a reply whose
    # worker dies is shown interrupted like any other.
    rows.append(
        message(
            "assistant",
            "",
            status=PENDING,
            provider=choice.provider,
            model=choice.model,
            started_at=now,
            heartbeat_at=now,
            completed_at=None,
        )
    )
    ids = db.session.scalars(insert(messages).returning(messages.c.id, sort_by_parameter_order=True), rows).all()
    return ids[-1]


def failure_status(error: ProviderError) -> int:
    return FAILURE_STATUS.get(error.kind, 502)
