from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.timeutil import utcnow

# UsageEvent.source values: a stored chat reply, a temporary chat (no text kept anywhere), the /v1 gateway.
CHAT, TEMPORARY, GATEWAY = "chat", "temporary", "gateway"
SOURCES = (CHAT, TEMPORARY, GATEWAY)


class UsageEvent(db.Model):
    """One request sent to a model and the tokens its provider reported (0 when it reported none).

    Deliberately not linked to the message: deleting a conversation (or a temporary chat, which never had one)
    must not give its tokens back to a budget. Only numbers are kept here, never text.
    """

    __tablename__ = "usage_events"
    __table_args__ = (
        # A user's spend this month (budgets, "My usage").
        Index("ix_usage_events_user_id_created_at", "user_id", "created_at"),
        # Everyone's usage by day (the admin usage page).
        Index("ix_usage_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(16), default=CHAT)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __repr__(self) -> str:
        return f"<UsageEvent {self.id} user {self.user_id} {self.source} {self.model} {self.tokens} tokens>"


class UsageMonth(db.Model):
    """A user's running total for one UTC month: what budgets are enforced against, one row per user and month.

    `tokens` is the month's ledger total (record_usage adds to it in the same transaction as the ledger row).
    `requests` counts the requests admitted to a model this month, counted when admitted, not when they end: the
    admission is one conditional UPDATE of this row (`webapp.governance.service.check_budget`), so concurrent
    sends queue on the row's lock and a request limit is never passed. The row starts from the ledger.
    """

    __tablename__ = "usage_months"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "YYYY-MM", UTC
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
