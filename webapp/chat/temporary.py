"""Temporary chats: a conversation that only the page (or the API's caller) keeps, sending its earlier turns back
with each new message.

Nothing of it is written anywhere on the server: no conversation, message or title in the database, and no text in
any log line (the request log names the path only; failures here are logged by their kind, never their message,
so a model service's error cannot echo the prompt into the log; the model clients' own DEBUG lines, which print
request bodies, are dropped while it streams). Only the number of tokens it used is kept, in the
usage ledger (source "temporary"), so budgets still count it. With no state on the server, any app server can
answer any message of it. An administrator turns the feature off with CHAT_TEMPORARY_ALLOWED=false.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from flask import current_app

from webapp.auth.models import User
from webapp.bounds import without_nul
from webapp.chat import service as chat
from webapp.chat.providers import ChatTurn
from webapp.errors import Refused
from webapp.extensions import db
from webapp.governance import service as governance
from webapp.usage.models import TEMPORARY
from webapp.usage.service import record_usage

log = logging.getLogger(__name__)

# Loggers of the model clients that print a request's or a response's body at DEBUG (off unless an operator turns
# it on). While a temporary reply streams, their DEBUG records are dropped, so its words reach no log even then. A
# logger's filter sees only the records made by that very logger, hence each one by name.
BODY_LOGGERS = ("botocore.endpoint", "botocore.parsers", "openai._base_client", "httpx", "httpcore")
_streaming = ContextVar("temporary_reply_streaming", default=False)


class QuietWhileTemporary(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_streaming.get() and record.levelno <= logging.DEBUG)


def quiet_model_clients() -> None:
    """Put the filter on the model clients' body loggers (once per process; `init_app` of chat calls it)."""
    for name in BODY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, QuietWhileTemporary) for existing in logger.filters):
            logger.addFilter(QuietWhileTemporary())


TURNED_OFF = (
    "Temporary chats are turned off on this Workbench (an administrator set CHAT_TEMPORARY_ALLOWED to false). "
    "Start an ordinary conversation instead: it is kept in your history."
)
# The earlier turns a page may send back with a message; the model is sent only what fits CHAT_CONTEXT_CHARS.
MAX_TURNS = 1000


def allowed() -> bool:
    return bool(current_app.config["CHAT_TEMPORARY_ALLOWED"])


def refuse_if_turned_off() -> None:
    if not allowed():
        raise Refused(TURNED_OFF, status=403, field="temporary")


@dataclass(frozen=True)
class Outcome:
    """How a temporary reply ended: its text (the caller's to keep or not), and its numbers."""

    text: str
    status: str  # complete, error or interrupted
    error: str | None
    provider: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    finish_reason: str | None = None


def clean_turns(turns: Sequence[tuple[str, str]]) -> list[ChatTurn]:
    """The earlier turns as the model is sent them: user and assistant only, blank ones dropped, each no longer
    than a message may be (413 naming the limit)."""
    if len(turns) > MAX_TURNS:
        raise Refused(f"A temporary chat can send back at most {MAX_TURNS:,} earlier turns.", field="turns")
    limit = current_app.config["CHAT_MAX_MESSAGE_CHARS"]
    cleaned = []
    for role, content in turns:
        if role not in ("user", "assistant"):
            raise Refused("Each earlier turn's role must be 'user' or 'assistant'.", field="turns")
        content = without_nul(content or "").replace("\r\n", "\n").strip()
        if len(content) > limit:
            raise Refused(
                f"An earlier turn is {len(content):,} characters long; the limit is {limit:,} characters.",
                status=413,
                field="turns",
                limit=limit,
            )
        if content:
            cleaned.append(ChatTurn(role, content))  # type: ignore[arg-type]  (checked just above)
    return cleaned


def prepare(
    user: User,
    message: str | None,
    turns: Sequence[tuple[str, str]] = (),
    model: str | None = None,
    system_prompt: str | None = None,
    project_id: int | None = None,
) -> TemporaryReply:
    """Check everything before any model is called: the feature is on, the message, the earlier turns, the model,
    and the project (another user's is a 404; its instructions and default model apply as in a saved chat)."""
    refuse_if_turned_off()
    text = chat.clean_message_text(message)
    system = chat.clean_system_prompt(system_prompt)
    earlier = clean_turns(turns)
    project = chat.project_for_new_conversation(user, project_id)
    preferred = chat.project_model(project) if project is not None else None
    choice = governance.choose_model(user, model, preferred=preferred)  # 403 naming the models the user may use
    instructions = project.instructions if project is not None else None
    sent = chat.trim_context(
        chat.compose_system_prompt(instructions, system),
        [*earlier, ChatTurn("user", text)],
        current_app.config["CHAT_CONTEXT_CHARS"],
    )
    governance.check_budget(user)  # 429 over a monthly limit, before anything goes upstream
    db.session.commit()  # the admission, so concurrent temporary chats see it
    return TemporaryReply(user.id, choice, sent)


class TemporaryReply:
    """Streams one temporary reply: `events()` yields text deltas; afterwards `outcome` says how it ended.

    Whatever ends the stream (the end, a failure, the browser going away), one usage row is recorded with the
    tokens the provider reported (0 when none), as a stored reply's would be; nothing else is written.
    """

    def __init__(self, user_id: int, choice: chat.ModelChoice, turns: list[ChatTurn]) -> None:
        self.user_id = user_id
        self.choice = choice
        self.turns = turns
        self.outcome: Outcome | None = None

    def events(self) -> Iterator[str]:
        provider = chat.providers().get(self.choice.provider)
        # No database connection is held while the model thinks.
        db.session.commit()
        _streaming.set(True)
        # The loop of a stored reply without its Stop checks and checkpoints: nothing is written while it streams.
        yield from chat.stream_from_model(
            provider,  # type: ignore[arg-type]  (resolve_model checked)
            self.turns,
            self.choice.model,
            finish=self._finish,
            failed=self._log_failure,
            close_failed=self._log_close_failure,
        )

    def _log_failure(self, failure: Exception) -> None:
        # By its kind only: an exception's message could quote the conversation.
        log.error("a temporary chat's reply failed unexpectedly (%s)", type(failure).__name__)

    def _log_close_failure(self, failure: Exception) -> None:
        log.warning("closing a temporary chat's stream failed (%s)", type(failure).__name__)

    def _finish(self, status: str, text: str, **numbers: Any) -> None:
        """Keep how the reply ended (the text only in memory, for the caller; the error, latency and token counts
        as `stream_from_model` reports them) and count its tokens."""
        _streaming.set(False)  # the model's stream is closed: its clients' DEBUG lines may be logged again
        self.outcome = Outcome(
            text=text, status=status, provider=self.choice.provider, model=self.choice.model, **numbers
        )
        self._record_usage()

    def _record_usage(self) -> None:
        outcome = self.outcome
        assert outcome is not None
        try:
            db.session.rollback()
            record_usage(
                self.user_id,
                outcome.provider,
                outcome.model,
                outcome.prompt_tokens,
                outcome.completion_tokens,
                TEMPORARY,
            )
            db.session.commit()
        except Exception as failure:
            db.session.rollback()
            log.warning("could not record a temporary chat's token usage (%s)", type(failure).__name__)

    def run(self) -> Outcome:
        """Stream the reply to its end without passing it on (the JSON API)."""
        for _ in self.events():
            pass
        assert self.outcome is not None
        return self.outcome
