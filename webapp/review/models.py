"""Reasons admins gave before opening someone else's content."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.timeutil import utcnow


class AdminReview(db.Model):
    """An admin opened `owner`'s object (a conversation, a file, a face comparison or analysis) for `reason`.

    The owner's history page lists these; the audit log has the same reason in its `review.reason` row. The
    object's name is copied into `label`, so the notice still says what was opened after the object is deleted.
    """

    __tablename__ = "admin_reviews"
    __table_args__ = (
        # The owner's notices, newest first.
        Index("ix_admin_reviews_owner_id_created_at", "owner_id", "created_at"),
        # Whether this admin gave a reason for this object lately (see service.REASON_LASTS).
        Index("ix_admin_reviews_admin_target", "admin_id", "target_type", "target_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Kept when the admin's account is deleted: the owner's notice does not name the admin anyway.
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
