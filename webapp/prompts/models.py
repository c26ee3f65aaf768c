"""Saved prompts: each belongs to its author; an admin's prompt may be shared with everyone."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.timeutil import utcnow

if TYPE_CHECKING:
    from webapp.auth.models import User

# A command is what follows the slash: `/summarize`, `/fix-grammar`. Lower case, so /Summarize is /summarize.
COMMAND_LENGTH = 32
TITLE_LENGTH = 120


class SavedPrompt(db.Model):
    __tablename__ = "saved_prompts"
    __table_args__ = (
        # One /command per author: the database says so, whichever of two saves at once comes second.
        UniqueConstraint("user_id", "command", name="uq_saved_prompts_user_id_command"),
        # The prompts everyone sees (the picker reads them with the user's own on every chat page).
        Index("ix_saved_prompts_shared", "shared"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    command: Mapped[str] = mapped_column(String(COMMAND_LENGTH))
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    text: Mapped[str] = mapped_column(Text)
    # Set only by an admin: the prompt is then offered to every user, still edited only by its author.
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship("User")

    def __repr__(self) -> str:
        return f"<SavedPrompt {self.id} /{self.command} of user {self.user_id}{' shared' if self.shared else ''}>"
