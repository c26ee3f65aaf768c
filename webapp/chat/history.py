"""The record of conversations: search and filters, export, retention, the admins' review, dashboard counts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from flask import current_app
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import ColumnElement, Select, and_, bindparam, case, distinct, exists, func, literal_column, or_, select

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.bounds import page_number, without_nul
from webapp.chat import schemas
from webapp.chat.models import COMPLETE, SEARCH_CONFIG, Conversation, Message
from webapp.chat.service import delete_conversations
from webapp.errors import NotFound, Refused
from webapp.extensions import db
from webapp.timeutil import as_utc, utc_day, utcnow

MAX_API_PAGE_SIZE = 100


@dataclass(frozen=True)
class HistoryFilter:
    """What the history page (or the API) asks for; every part optional."""

    query: str = ""
    model: str = ""  # "provider:model"
    date_from: date | None = None
    date_to: date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "query", without_nul(self.query))
        object.__setattr__(self, "model", without_nul(self.model))

    @property
    def active(self) -> bool:
        return bool(self.query or self.model or self.date_from or self.date_to)


def parse_date(value: str | None, name: str) -> date | None:
    """A YYYY-MM-DD form or query value; 400 with the field named when it is not a date."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Refused(f"The {name} date must look like 2024-01-31, not {value!r}.") from None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_condition(query: str) -> ColumnElement[bool]:
    """Conversations whose title or any message matches `query`.

    PostgreSQL: full-text search (plainto_tsquery, English stemming, served by the GIN index on message text),
    plus a substring match on titles. SQLite: every word must appear (LIKE, case-insensitive) in the title or
    in some message.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        config = literal_column(f"'{SEARCH_CONFIG}'")
        terms = func.plainto_tsquery(config, query)
        in_title = or_(
            Conversation.title.ilike(f"%{_escape_like(query)}%", escape="\\"),
            func.to_tsvector(config, Conversation.title).op("@@")(terms),
        )
        in_messages = exists().where(
            Message.conversation_id == Conversation.id,
            func.to_tsvector(config, Message.content).op("@@")(terms),
        )
        return or_(in_title, in_messages)
    conditions = []
    for word in query.split():
        pattern = f"%{_escape_like(word)}%"
        conditions.append(
            or_(
                Conversation.title.ilike(pattern, escape="\\"),
                exists().where(Message.conversation_id == Conversation.id, Message.content.ilike(pattern, escape="\\")),
            )
        )
    return and_(*conditions)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def filtered_conversations(owner_id: int | None, filters: HistoryFilter):
    """The select() of conversations matching `filters`, pinned first, then newest activity first."""
    statement = select(Conversation)
    if owner_id is not None:
        statement = statement.where(Conversation.user_id == owner_id)
    query = " ".join(filters.query.split())
    if query:
        statement = statement.where(search_condition(query))
    if filters.model:
        provider, _, model = filters.model.partition(":")
        statement = statement.where(Conversation.provider == provider, Conversation.model == model)
    if filters.date_from:
        statement = statement.where(Conversation.updated_at >= _start_of(filters.date_from))
    if filters.date_to:
        statement = statement.where(Conversation.updated_at < _start_of(filters.date_to + timedelta(days=1)))
    return statement


def search(user: User, filters: HistoryFilter, page: int = 1, per_page: int | None = None) -> Pagination:
    """The user's conversations matching `filters`: pinned first, then the most recently active (PAGE_SIZE a page)."""
    per_page = per_page or current_app.config["PAGE_SIZE"]
    statement = filtered_conversations(user.id, filters).order_by(
        Conversation.pinned.desc(), Conversation.updated_at.desc(), Conversation.id.desc()
    )
    return db.paginate(
        statement,
        page=page_number(page),
        per_page=min(max(per_page, 1), MAX_API_PAGE_SIZE),
        error_out=False,
        count=True,
    )


def models_used(owner_id: int | None) -> list[tuple[str, str]]:
    """The (provider, model) pairs of the conversations, for the model filter."""
    statement = (
        select(Conversation.provider, Conversation.model).distinct().order_by(Conversation.provider, Conversation.model)
    )
    if owner_id is not None:
        statement = statement.where(Conversation.user_id == owner_id)
    return [(provider, model) for provider, model in db.session.execute(statement)]


# -- export ------------------------------------------------------------------------------------------------------


def conversation_markdown(conversation: Conversation) -> str:
    """The conversation as a Markdown document: a heading per message, the text as it was written."""
    lines = [f"# {conversation.title}", ""]
    lines.append(f"- Model: {conversation.model} ({conversation.provider})")
    lines.append(f"- Started: {_stamp(conversation.created_at)}")
    lines.append(f"- Last activity: {_stamp(conversation.updated_at)}")
    lines.append("")
    if conversation.system_prompt:
        lines += ["## System prompt", "", conversation.system_prompt, ""]
    for message in conversation.messages:
        who = "You" if message.role == "user" else f"Assistant ({message.model or 'unknown model'})"
        lines += [f"## {who} · {_stamp(message.created_at)}", ""]
        if message.content:
            lines += [message.content, ""]
        if message.role == "assistant" and message.status != COMPLETE:
            note = {"error": "Failed", "interrupted": "Interrupted", "pending": "Still being written"}.get(
                message.status, message.status
            )
            lines += [f"> {note}{': ' + message.error if message.error else '.'}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _stamp(moment: datetime | None) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def export_filename(conversation: Conversation, extension: str) -> str:
    """An ASCII file name from the title: conversation-12-what-is-a-monad.md."""
    slug = re.sub(r"[^a-z0-9]+", "-", conversation.title.lower()).strip("-")[:50].strip("-")
    return f"conversation-{conversation.id}{'-' + slug if slug else ''}.{extension}"


def export_all(user: User) -> Iterator[str]:
    """Every conversation of the user as one JSON document, produced piece by piece (no whole copy in memory)."""
    yield f'{{"exported_at": {json.dumps(utcnow().isoformat())}, "user": {json.dumps(user.email)}, "conversations": ['
    statement = (
        select(Conversation.id)
        .where(Conversation.user_id == user.id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )
    ids = list(db.session.scalars(statement))
    for index, conversation_id in enumerate(ids):
        conversation = db.session.get(Conversation, conversation_id)
        if conversation is None:  # deleted meanwhile
            continue
        yield (
            ("," if index else "")
            + "\n"
            + json.dumps(schemas.Conversation.of(conversation).model_dump(mode="json"), ensure_ascii=False)
        )
        # Let each conversation go once written, so memory stays flat on a long history.
        db.session.expunge(conversation)
    yield "\n]}\n"


# -- retention ---------------------------------------------------------------------------------------------------


def purge_older_than(days: int) -> tuple[int, int]:
    """Delete conversations with no activity for `days` days; return (conversations, messages) deleted."""
    if days < 1:
        raise Refused("Retention must be at least 1 day.")
    cutoff = utcnow() - timedelta(days=days)
    ids = list(db.session.scalars(select(Conversation.id).where(Conversation.updated_at < cutoff)))
    messages = 0
    if ids:
        messages = db.session.scalar(select(func.count(Message.id)).where(Message.conversation_id.in_(ids))) or 0
        delete_conversations(ids)
    db.session.commit()
    return len(ids), messages


# -- the admins' review ------------------------------------------------------------------------------------------


def review_list(admin: User, owner_id: int | None, filters: HistoryFilter, page: int = 1) -> Pagination:
    """Everyone's conversations (or one user's), newest first; the look is written to the audit log."""
    statement = filtered_conversations(owner_id, filters).order_by(
        Conversation.updated_at.desc(), Conversation.id.desc()
    )
    result = db.paginate(statement, page=page_number(page), per_page=current_app.config["PAGE_SIZE"], error_out=False)
    detail = f"user {owner_id}" if owner_id else "all users"
    if filters.query:
        detail += f", search {filters.query!r}"
    audit.record("chat.review_list", user=admin, detail=f"{detail}, page {result.page}")
    db.session.commit()
    return result


def review_conversation(admin: User, conversation_id: int) -> Conversation:
    """Any user's conversation, read-only for the admin; each view is written to the audit log."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("There is no such conversation.")
    audit.record(
        "chat.review_view",
        user=admin,
        target=conversation,
        detail=f"conversation of {conversation.user.email}: {conversation.title}",
    )
    db.session.commit()
    return conversation


# -- dashboard ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatStats:
    conversations: int
    messages: int
    replies_this_week: int
    tokens_this_week: int


def stats(user: User) -> ChatStats:
    """The dashboard's figures in one query (the dashboard is the most visited page)."""
    parameters = {"user_id": user.id, "week_ago": utcnow() - timedelta(days=7)}
    conversations, messages, replies, tokens = db.session.execute(_stats(), parameters).one()
    return ChatStats(int(conversations or 0), int(messages or 0), int(replies or 0), int(tokens or 0))


@cache
def _stats() -> Select:
    # Built once, like the activity queries: building a statement costs more than running it.
    recent_reply = and_(
        Message.role == "assistant", Message.status == COMPLETE, Message.created_at >= bindparam("week_ago")
    )
    tokens = func.coalesce(Message.prompt_tokens, 0) + func.coalesce(Message.completion_tokens, 0)
    return (
        select(
            func.count(distinct(Conversation.id)),
            func.count(Message.id),
            func.coalesce(func.sum(case((recent_reply, 1), else_=0)), 0),
            func.coalesce(func.sum(case((recent_reply, tokens), else_=0)), 0),
        )
        .select_from(Conversation)
        .outerjoin(Message, Message.conversation_id == Conversation.id)
        .where(Conversation.user_id == bindparam("user_id"))
    )


@cache
def messages_per_day(one_user: bool) -> Select:
    """Messages sent (questions asked, not replies) per UTC day from `:since`, of `:user_id` when `one_user`.

    Built once: the dashboard is the most visited page, and building a statement costs more than running it."""
    day = utc_day(Message.created_at)
    query = select(day, func.count()).where(Message.role == "user", Message.created_at >= bindparam("since"))
    if one_user:
        query = query.join(Conversation, Conversation.id == Message.conversation_id).where(
            Conversation.user_id == bindparam("user_id")
        )
    return query.group_by(day)
