"""Groups of users, the models a group may use, and the monthly limits of groups and users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.auth.models import User
from webapp.extensions import db
from webapp.timeutil import utcnow

# Group.allowed_models: this entry allows every configured model (how a group says "admins are not restricted").
ALL_MODELS = "*"

group_members = Table(
    "group_members",
    db.metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    # A user's groups are read on every message sent (model access, limits).
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Group(db.Model):
    """A named set of users. A group may restrict its members to some models and cap each member's month."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # None: the group says nothing about models. Otherwise the models it allows, one per line ("provider:model" or
    # a bare model id, as `groups models` was given them), or ALL_MODELS.
    allowed_models: Mapped[str | None] = mapped_column(Text)
    # Each member's own spend this month is held to these (None: no limit from this group).
    monthly_tokens: Mapped[int | None] = mapped_column(BigInteger)
    monthly_requests: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    members: Mapped[list[User]] = relationship(secondary=group_members, order_by=User.email)

    @property
    def model_list(self) -> list[str] | None:
        """The models this group allows, or None when it does not restrict models."""
        if self.allowed_models is None:
            return None
        return [line for line in self.allowed_models.split("\n") if line]

    def __repr__(self) -> str:
        return f"<Group {self.id} {self.name}>"


class UserLimit(db.Model):
    """A user's own monthly limits (besides those of their groups)."""

    __tablename__ = "user_limits"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    monthly_tokens: Mapped[int | None] = mapped_column(BigInteger)
    monthly_requests: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship()
