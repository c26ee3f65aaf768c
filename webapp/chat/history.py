"""The record of conversations: search and filters, export, retention, the admins' review, dashboard counts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    true,
    tuple_,
    union,
)
from sqlalchemy.orm import joinedload, selectinload

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.bounds import MAX_DATABASE_ID, page_number, without_nul
from webapp.chat import schemas
from webapp.chat.branches import tree
from webapp.chat.models import COMPLETE, SEARCH_CONFIG, SQLITE_SEARCH_TABLE, Conversation, Message
from webapp.chat.service import delete_conversations
from webapp.errors import NotFound, Refused
from webapp.extensions import db
from webapp.timeutil import as_utc, start_of, utc_day, utcnow

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


def search_condition(query: str, owner_id: int | None = None) -> ColumnElement[bool]:
    """Conversations whose title or any one message matches `query` (every word of it).

    Each part is a lookup its own index serves, and the conversation ids they find are united: ORed together in one
    WHERE, the title test would have to be run on every conversation in turn, which no index can serve.
    PostgreSQL: full-text search (plainto_tsquery, English stemming) of messages and titles through their GIN
    indexes, plus a substring match on the titles (of `owner_id`'s conversations, when given).
    SQLite: the FTS5 index of messages (porter stemming), plus every word as a substring of the title.
    """
    titles = select(Conversation.id)
    if owner_id is not None:
        titles = titles.where(Conversation.user_id == owner_id)
    if db.session.get_bind().dialect.name == "postgresql":
        config = literal_column(f"'{SEARCH_CONFIG}'")
        terms = func.plainto_tsquery(config, query)
        matching = union(
            select(Message.conversation_id).where(func.to_tsvector(config, Message.content).op("@@")(terms)),
            select(Conversation.id).where(func.to_tsvector(config, Conversation.title).op("@@")(terms)),
            titles.where(Conversation.title.ilike(f"%{_escape_like(query)}%", escape="\\")),
        )
        return Conversation.id.in_(matching)
    words = query.split()
    # Each word a quoted FTS5 string: the user's quotes, dashes or stars are text to find, not query syntax.
    phrase = " ".join('"' + word.replace('"', '""') + '"' for word in words)
    fts = table(SQLITE_SEARCH_TABLE, column("rowid"))
    in_messages = select(Message.conversation_id).where(
        Message.id.in_(select(fts.c.rowid).where(literal_column(SQLITE_SEARCH_TABLE).op("MATCH")(phrase)))
    )
    in_title = titles.where(*(Conversation.title.ilike(f"%{_escape_like(word)}%", escape="\\") for word in words))
    return Conversation.id.in_(union(in_messages, in_title))


def filtered_conversations(owner_id: int | None, filters: HistoryFilter) -> Select:
    """The select() of conversations matching `filters` (unordered: each list applies its own order)."""
    statement = select(Conversation)
    if owner_id is not None:
        statement = statement.where(Conversation.user_id == owner_id)
    query = " ".join(filters.query.split())
    if query:
        statement = statement.where(search_condition(query, owner_id))
    if filters.model:
        provider, _, model = filters.model.partition(":")
        statement = statement.where(Conversation.provider == provider, Conversation.model == model)
    if filters.date_from:
        statement = statement.where(Conversation.updated_at >= start_of(filters.date_from))
    if filters.date_to:
        statement = statement.where(Conversation.updated_at < start_of(filters.date_to + timedelta(days=1)))
    return statement


# The orders of the lists, newest activity first; the last column makes each position unique (a keyset).
HISTORY_ORDER = (Conversation.pinned, Conversation.updated_at, Conversation.id)
REVIEW_ORDER = (Conversation.updated_at, Conversation.id)


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: just `after` (older than) or `before` (newer than) a row of the previous page."""

    direction: str  # "after" or "before"
    key: str  # the row's order values, as Cursor.encode wrote them

    @staticmethod
    def encode(row: Any, order: tuple) -> str:
        values = [getattr(row, column.key) for column in order]
        return "~".join(
            as_utc(value).isoformat() if isinstance(value, datetime) else str(int(value)) for value in values
        )

    def values(self, order: tuple) -> tuple | None:
        """The key as typed values for `order`'s columns; None when it is not one (a hand-edited link)."""
        parts = self.key.split("~")
        if len(parts) != len(order):
            return None
        values: list[Any] = []
        try:
            for part, column in zip(parts, order, strict=True):
                kind = column.type.python_type
                if kind is datetime:
                    values.append(as_utc(datetime.fromisoformat(part)))
                elif kind is bool:
                    values.append(part == "1")
                else:
                    values.append(min(int(part), MAX_DATABASE_ID))
        except ValueError:
            return None
        return tuple(values)


def cursor_from(args: Any) -> Cursor | None:
    """The `after` or `before` of a list page's query string (the Older / Newer links carry one)."""
    for direction in ("after", "before"):
        if key := without_nul(args.get(direction, "")).strip():
            return Cursor(direction, key[:200])
    return None


def search(
    user: User, filters: HistoryFilter, page: int = 1, per_page: int | None = None, cursor: Cursor | None = None
) -> Pagination:
    """The user's conversations matching `filters`: pinned first, then the most recently active (PAGE_SIZE a page)."""
    per_page = min(max(per_page or current_app.config["PAGE_SIZE"], 1), MAX_API_PAGE_SIZE)
    statement = filtered_conversations(user.id, filters)
    return paginate(
        statement, HISTORY_ORDER, page_number(page), per_page, searching=bool(filters.query.strip()), cursor=cursor
    )


class KeysetPagination(Pagination):
    """A page of a list in `order` (every column descending), the count from an index.

    `?page=N` alone skips N-1 pages (an OFFSET, which reads every row it skips); the Older and Newer links also
    carry the row the page starts after (or before), so a deep page is read from the index like the first."""

    def _ordered(self, descending: bool = True) -> Select:
        order = self._query_args["order"]
        statement = self._query_args["statement"].options(*self._query_args["options"])
        return statement.order_by(*(column.desc() if descending else column.asc() for column in order))

    def _query_items(self) -> list[Any]:
        order, cursor = self._query_args["order"], self._query_args["cursor"]
        values = cursor.values(order) if cursor else None
        if values is None:
            statement = self._ordered().limit(self.per_page).offset((self.page - 1) * self.per_page)
            return list(db.session.scalars(statement))
        if cursor.direction == "after":
            statement = self._ordered().where(tuple_(*order) < tuple_(*values)).limit(self.per_page)
            return list(db.session.scalars(statement))
        statement = self._ordered(descending=False).where(tuple_(*order) > tuple_(*values)).limit(self.per_page)
        return list(reversed(db.session.scalars(statement).all()))

    def _query_count(self) -> int:
        statement = self._query_args["statement"]
        return db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0

    @property
    def next_args(self) -> dict[str, str]:
        """What the Older link adds to ?page=: the last row of this page."""
        return {"after": Cursor.encode(self.items[-1], self._query_args["order"])} if self.items else {}

    @property
    def prev_args(self) -> dict[str, str]:
        """What the Newer link adds to ?page=: the first row of this page."""
        return {"before": Cursor.encode(self.items[0], self._query_args["order"])} if self.items else {}


class MatchesPagination(Pagination):
    """A page of search results whose page and count come from one query.

    Flask-SQLAlchemy's pagination runs the statement twice, for the page and for the count; for a search that
    doubles the costly part (finding the matching messages). Here one query returns the page's ids, each with the
    number of every match (`count(*) OVER ()`, counted before the LIMIT applies): the database keeps only the best
    rows while it reads the matches (a top-N sort) and sends a page of ids, not all of them (an admin's search of
    everyone matches some 9,000 conversations). The page's rows are then loaded by id."""

    def _query_items(self) -> list[Any]:
        statement, order = self._query_args["statement"], self._query_args["order"]
        rows = db.session.execute(
            statement.with_only_columns(Conversation.id, func.count().over())
            .order_by(*(column.desc() for column in order))
            .limit(self.per_page)
            .offset((self.page - 1) * self.per_page)
        ).all()
        # Past the last page there is no row to carry the count: _query_count asks for it then.
        self._matches = rows[0][1] if rows else None
        chosen = [id_ for id_, _count in rows]
        if not chosen:
            return []
        loading = select(Conversation).where(Conversation.id.in_(chosen)).options(*self._query_args["options"])
        loaded = {conversation.id: conversation for conversation in db.session.scalars(loading)}
        return [loaded[id_] for id_ in chosen if id_ in loaded]

    def _query_count(self) -> int:
        if self._matches is not None:
            return self._matches
        if self.page == 1:
            return 0
        statement = self._query_args["statement"].with_only_columns(Conversation.id).order_by(None)
        return db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0


def paginate(
    statement: Select,
    order: tuple,
    page: int,
    per_page: int,
    searching: bool,
    cursor: Cursor | None = None,
    options: tuple = (),
) -> Pagination:
    """A page of `statement`'s conversations in `order` (descending): by keyset, or a search's page and count in one
    query."""
    common = {
        "page": page,
        "per_page": per_page,
        "max_per_page": None,
        "error_out": False,
        "statement": statement,
        "order": order,
        "options": options,
    }
    return MatchesPagination(**common) if searching else KeysetPagination(**common, cursor=cursor)


def models_used(owner_id: int | None) -> list[tuple[str, str]]:
    """The (provider, model) pairs of the conversations, for the model filter."""
    if owner_id is None and db.session.get_bind().dialect.name == "postgresql":
        return [(provider, model) for provider, model in db.session.execute(_every_model_used())]
    statement = (
        select(Conversation.provider, Conversation.model).distinct().order_by(Conversation.provider, Conversation.model)
    )
    if owner_id is not None:
        statement = statement.where(Conversation.user_id == owner_id)
    return [(provider, model) for provider, model in db.session.execute(statement)]


@cache
def _every_model_used() -> Select:
    """Everyone's (provider, model) pairs in order, read from the index on them one pair at a time.

    A handful of pairs among every conversation: DISTINCT reads every conversation (28 ms of the admins' history
    page at 100,000), and PostgreSQL has no skip scan that would jump from one pair to the next in the index. So
    the query jumps itself: the first pair, then again and again the first pair after the last one found (a
    recursive query, one index probe a pair). Built once, like the dashboard's statements."""
    pair = (Conversation.provider, Conversation.model)
    pairs = select(*pair).order_by(*pair).limit(1).cte("pairs", recursive=True)
    following = (
        select(*pair)
        .where(tuple_(*pair) > tuple_(pairs.c.provider, pairs.c.model))
        .order_by(*pair)
        .limit(1)
        .lateral("following")
    )
    pairs = pairs.union_all(select(following.c.provider, following.c.model).select_from(pairs.join(following, true())))
    return select(pairs.c.provider, pairs.c.model).order_by(pairs.c.provider, pairs.c.model)


# -- export ------------------------------------------------------------------------------------------------------


def conversation_markdown(conversation: Conversation) -> str:
    """The conversation as a Markdown document: a heading per message, the text as it was written."""
    lines = [f"# {conversation.title}", ""]
    lines.append(f"- Model: {conversation.model} ({conversation.provider})")
    lines.append(f"- Started: {_stamp(conversation.created_at)}")
    lines.append(f"- Last activity: {_stamp(conversation.updated_at)}")
    lines.append("")
    branches = tree(conversation)
    if branches.branch_count > 1:
        lines.insert(-1, f"- Branches: {branches.branch_count} (edited or regenerated); this is the current one")
    if conversation.system_prompt:
        lines += ["## System prompt", "", conversation.system_prompt, ""]
    for message in branches.thread:
        who = "You" if message.role == "user" else f"Assistant ({message.model or 'unknown model'})"
        lines += [f"## {who} · {_stamp(message.created_at)}", ""]
        if message.content:
            lines += [message.content, ""]
        if getattr(message, "attachments", None):
            lines += ["Files: " + ", ".join(attached.file_name for attached in message.attachments), ""]
        if getattr(message, "sources", None):
            lines += ["Sources:", ""]
            lines += [f"{s.number}. {s.file_name}, {s.locator}: “{s.excerpt}”" for s in message.sources] + [""]
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


EXPORT_BATCH = 50  # conversations a batch: memory is bounded by a batch, not by the history


def export_all(user: User, batch_size: int = EXPORT_BATCH) -> Iterator[str]:
    """Every conversation of the user as one JSON document, produced piece by piece (no whole copy in memory).

    Conversations are loaded `batch_size` at a time with their messages (two queries a batch, not two a
    conversation), and let go once written, so memory stays flat however long the history."""
    yield f'{{"exported_at": {json.dumps(utcnow().isoformat())}, "user": {json.dumps(user.email)}, "conversations": ['
    statement = (
        select(Conversation.id)
        .where(Conversation.user_id == user.id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )
    ids = list(db.session.scalars(statement))
    separator = ""
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        loaded = db.session.scalars(
            select(Conversation).where(Conversation.id.in_(batch)).options(selectinload(Conversation.messages))
        )
        by_id = {conversation.id: conversation for conversation in loaded}
        for conversation_id in batch:
            conversation = by_id.get(conversation_id)
            if conversation is None:  # deleted meanwhile
                continue
            yield (
                separator
                + "\n"
                + json.dumps(schemas.Conversation.of(conversation).model_dump(mode="json"), ensure_ascii=False)
            )
            separator = ","
        for conversation in by_id.values():
            db.session.expunge(conversation)  # and its messages, by the relationship's cascade
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


def review_list(
    admin: User, owner_id: int | None, filters: HistoryFilter, page: int = 1, cursor: Cursor | None = None
) -> Pagination:
    """Everyone's conversations (or one user's), newest first; the look is written to the audit log."""
    statement = filtered_conversations(owner_id, filters)
    page = page_number(page)
    detail = f"user {owner_id}" if owner_id else "all users"
    if filters.query:
        detail += f", search {filters.query!r}"
    # Written before the page is read: a commit after it would expire every row, and the page would then load
    # each one again (one query a row).
    audit.record("chat.review_list", user=admin, detail=f"{detail}, page {page}")
    db.session.commit()
    # Each row shows its owner: loaded in the same query, not one query a row.
    return paginate(
        statement,
        REVIEW_ORDER,
        page,
        current_app.config["PAGE_SIZE"],
        searching=bool(filters.query.strip()),
        cursor=cursor,
        options=(joinedload(Conversation.user),),
    )


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


def _recently_active(since: ColumnElement) -> ColumnElement[bool]:
    """The conversations that can hold a message from `since` on.

    A conversation's updated_at is set whenever a message is added or a reply completes, so it is never older than
    its messages: testing it first lets the index on (user_id, updated_at) pick the few conversations whose
    messages are worth looking at, instead of every message of the user (or of the last days, of everyone).
    """
    return Conversation.updated_at >= since


@cache
def _stats() -> Select:
    # Built once, like the activity queries: building a statement costs more than running it. Three scalar
    # subqueries, each served by an index, rather than one join of every message of the user.
    own = Conversation.user_id == bindparam("user_id")
    week_ago = bindparam("week_ago")
    tokens = func.coalesce(Message.prompt_tokens, 0) + func.coalesce(Message.completion_tokens, 0)
    recent_replies = (
        select(func.count(Message.id), func.coalesce(func.sum(tokens), 0))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            own,
            _recently_active(week_ago),
            Message.role == "assistant",
            Message.status == COMPLETE,
            Message.created_at >= week_ago,
        )
        .subquery()
    )
    return select(
        select(func.count(Conversation.id)).where(own).scalar_subquery(),
        # count(*), not count(id): the message index on conversation_id alone answers it (an index-only scan).
        select(func.count())
        .select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(own)
        .scalar_subquery(),
        *recent_replies.c,
    )


@cache
def messages_per_day(one_user: bool) -> Select:
    """Messages sent (questions asked, not replies) per UTC day from `:since`, of `:user_id` when `one_user`.

    Built once: the dashboard is the most visited page, and building a statement costs more than running it."""
    day = utc_day(Message.created_at)
    query = select(day, func.count()).where(Message.role == "user", Message.created_at >= bindparam("since"))
    if one_user:
        query = query.join(Conversation, Conversation.id == Message.conversation_id).where(
            Conversation.user_id == bindparam("user_id"), _recently_active(bindparam("since"))
        )
    return query.group_by(day)
