"""Projects: a user's named folders of conversations, each with its own instructions and default model."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.timeutil import utcnow

MAX_NAME_LENGTH = 200


class Project(db.Model):
    """A folder of conversations. A conversation points at its project (`conversations.project_id`); deleting a
    project moves its conversations out, never away. Files of a project (docchat) will hang off `projects.id` in
    a table of their own."""

    __tablename__ = "projects"
    __table_args__ = (
        # A user's projects by name: the project list, the sidebar and every "move to" picker.
        Index("ix_projects_user_id_name", "user_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(MAX_NAME_LENGTH))
    # Sent to the model as the system prompt, before each conversation's own.
    instructions: Mapped[str | None] = mapped_column(Text)
    # The model new conversations of the project start with, as the picker names it ("provider:model");
    # None: the app's default.
    model: Mapped[str | None] = mapped_column(String(240))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def __repr__(self) -> str:
        return f"<Project {self.id} of user {self.user_id}: {self.name!r}>"
