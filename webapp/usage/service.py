"""Recording and summing token usage. Chat replies, temporary chats and the gateway all record here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from webapp.extensions import db
from webapp.timeutil import as_utc, utcnow
from webapp.usage.models import SOURCES, UsageEvent, UsageMonth


def record_usage(
    user_id: int,
    provider: str,
    model: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    source: str,
    at: datetime | None = None,
) -> UsageEvent:
    """Add one request's usage to the session, and its tokens to the month's counter that budgets are enforced
    against; the caller's commit writes both, together with its own outcome.

    The request itself was counted when it was admitted (`webapp.governance.service.check_budget`, which every
    path to a model calls before sending anything upstream); here only its tokens are added."""
    if source not in SOURCES:
        raise ValueError(f"unknown usage source {source!r}")
    event = UsageEvent(
        user_id=user_id,
        provider=provider,
        model=model,
        prompt_tokens=prompt_tokens or 0,
        completion_tokens=completion_tokens or 0,
        source=source,
        created_at=at or utcnow(),
    )
    db.session.add(event)
    add_to_month(user_id, month_of(event.created_at), event.tokens)
    return event


@dataclass(frozen=True)
class UsageTotal:
    tokens: int
    requests: int


def usage_since(user_id: int, since: datetime) -> UsageTotal:
    """A user's tokens and requests from `since` on (one indexed range read)."""
    tokens, requests = db.session.execute(
        select(
            func.coalesce(func.sum(UsageEvent.prompt_tokens + UsageEvent.completion_tokens), 0),
            func.count(UsageEvent.id),
        ).where(UsageEvent.user_id == user_id, UsageEvent.created_at >= since)
    ).one()
    return UsageTotal(int(tokens), int(requests))


# -- months and the per-month counter ----------------------------------------------------------------------------


def month_of(moment: datetime) -> str:
    """The UTC month of `moment`, as "YYYY-MM"."""
    return as_utc(moment).astimezone(UTC).strftime("%Y-%m")


def month_start(month: str) -> datetime:
    year, number = (int(part) for part in month.split("-"))
    return datetime(year, number, 1, tzinfo=UTC)


def next_month_start(month: str) -> datetime:
    """When `month`'s budgets reset: midnight UTC on the 1st of the month after."""
    start = month_start(month)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def current_month() -> str:
    return month_of(utcnow())


def ensure_month_row(user_id: int, month: str) -> bool:
    """Make the user's counter row for `month` if there is none, starting from the ledger's rows of that month
    (those this transaction added included); True when this call made it.

    One INSERT … SELECT … ON CONFLICT DO NOTHING: two transactions making the same row at once end with one row,
    the second waiting for the first (PostgreSQL) or for the write lock (SQLite), then doing nothing."""
    start, end = month_start(month), next_month_start(month)
    totals = select(
        literal(user_id),
        literal(month),
        func.coalesce(func.sum(UsageEvent.prompt_tokens + UsageEvent.completion_tokens), 0),
        func.count(UsageEvent.id),
    ).where(UsageEvent.user_id == user_id, UsageEvent.created_at >= start, UsageEvent.created_at < end)
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(UsageMonth)
        .from_select(["user_id", "month", "tokens", "requests"], totals)
        .on_conflict_do_nothing(index_elements=["user_id", "month"])
        # RETURNING, not rowcount: psycopg reports no row count for an INSERT … SELECT that did nothing.
        .returning(UsageMonth.user_id)
    )
    return db.session.execute(statement).first() is not None


def add_to_month(user_id: int, month: str, tokens: int) -> None:
    """Count a finished request's tokens in its month's counter, in the caller's transaction."""
    db.session.flush()  # the ledger row first: a counter made now starts from the ledger and must include it
    add = (
        update(UsageMonth)
        .where(UsageMonth.user_id == user_id, UsageMonth.month == month)
        .values(tokens=UsageMonth.tokens + tokens)
    )
    # The counter usually exists: add to it. Only when it does not is the month's ledger summed to make it (with
    # this row); made meanwhile by another transaction, it lacks this uncommitted row, so add to it then.
    if db.session.execute(add).rowcount or ensure_month_row(user_id, month):
        return
    db.session.execute(add)


def month_usage(user_id: int, month: str | None = None) -> UsageTotal:
    """A user's tokens and admitted requests in `month` (default: this one), from the counter, else the ledger."""
    month = month or current_month()
    row = db.session.get(UsageMonth, (user_id, month))
    if row is not None:
        return UsageTotal(int(row.tokens), int(row.requests))
    tokens, requests = db.session.execute(
        select(
            func.coalesce(func.sum(UsageEvent.prompt_tokens + UsageEvent.completion_tokens), 0),
            func.count(UsageEvent.id),
        ).where(
            UsageEvent.user_id == user_id,
            UsageEvent.created_at >= month_start(month),
            UsageEvent.created_at < next_month_start(month),
        )
    ).one()
    return UsageTotal(int(tokens), int(requests))
