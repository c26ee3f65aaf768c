"""Recording and summing token usage. Chat replies, temporary chats and the gateway all record here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.timeutil import utcnow
from webapp.usage.models import SOURCES, UsageEvent


def record_usage(
    user_id: int,
    provider: str,
    model: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    source: str,
    at: datetime | None = None,
) -> UsageEvent:
    """Add one request's usage to the session; the caller's commit writes it, together with its own outcome."""
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
