"""Shared conversations: a read-only snapshot of a conversation, behind a link only signed-in users can open."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.timeutil import utcnow

if TYPE_CHECKING:
    from webapp.auth.models import User
    from webapp.chat.models import Conversation


class ConversationShare(db.Model):
    """One conversation's share: its link, its expiry, and the snapshot the link shows.

    The link's token is never stored: it is derived from `nonce` with the app's secret key (so the owner can see
    the link again, and a copy of the database alone opens nothing), and found by its SHA-256, `token_hash`.
    Revoking deletes the row, so a revoked link can never come back.
    """

    __tablename__ = "conversation_shares"
    __table_args__ = (
        # The admins' list of live shares, newest first.
        Index("ix_conversation_shares_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One share per conversation: sharing again updates it (same link, a new snapshot).
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True, index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The snapshot: the conversation's title and model when it was shared, and its messages (SharedMessage).
    title: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    snapshot_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Opens by users other than the owner (ShareView says who, and how often).
    view_count: Mapped[int] = mapped_column(Integer, default=0)

    user: Mapped[User] = relationship("User")
    conversation: Mapped[Conversation] = relationship("Conversation")
    messages: Mapped[list[SharedMessage]] = relationship(
        back_populates="share", order_by="SharedMessage.position", cascade="all, delete-orphan", passive_deletes=True
    )
    views: Mapped[list[ShareView]] = relationship(
        back_populates="share",
        order_by="ShareView.last_opened_at.desc()",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<ConversationShare {self.id} of conversation {self.conversation_id}>"


class SharedMessage(db.Model):
    """A message as it was when the conversation was shared: later messages and edits do not reach the link."""

    __tablename__ = "shared_messages"
    __table_args__ = (Index("ix_shared_messages_share_id_position", "share_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    share_id: Mapped[int] = mapped_column(ForeignKey("conversation_shares.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    share: Mapped[ConversationShare] = relationship(back_populates="messages")


class ShareView(db.Model):
    """Who opened a share: one row per user, with how often and when first and last."""

    __tablename__ = "share_views"
    __table_args__ = (UniqueConstraint("share_id", "user_id", name="uq_share_views_share_id_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    share_id: Mapped[int] = mapped_column(ForeignKey("conversation_shares.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    opens: Mapped[int] = mapped_column(Integer, default=1)
    first_opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    share: Mapped[ConversationShare] = relationship(back_populates="views")
    user: Mapped[User] = relationship("User")
