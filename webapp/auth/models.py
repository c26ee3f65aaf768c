"""Users and their API tokens."""

from __future__ import annotations

import time
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.timeutil import as_utc, utcnow

ROLES = ("admin", "staff")
# The password hash of an account made by a company sign-in: not a hash format, so no password ever matches it.
NO_PASSWORD = "!no-password"

# What an API token may do. `chat`, `files` and `faces` each open one area of the API (reading and changing);
# `read-only` lets a token read every area and change nothing. A token's scopes add up: {files, read-only} reads
# everything and changes files only. Routes that are about the token itself (/api/me) need no scope.
CHAT, FILES, FACES, READ_ONLY = "chat", "files", "faces", "read-only"
SCOPES = (CHAT, FILES, FACES, READ_ONLY)
AREAS = (CHAT, FILES, FACES)
# What a token made before scopes existed (the migration) or without choosing any (the CLI's default) may do.
FULL_ACCESS = AREAS
SCOPE_LABELS = {
    CHAT: "Chat: send messages, read and delete conversations, the /v1 gateway",
    FILES: "Files: upload, read and delete files",
    FACES: "Faces: compare and analyse photos",
    READ_ONLY: "Read-only: read everything above, change nothing",
}


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="staff", index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on logout and password change: every session carrying an older version stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The `sub` of the person's company account (OpenID Connect), once they have signed in with it.
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def has_password(self) -> bool:
        """False for accounts made by a company sign-in: their hash is NO_PASSWORD, which no password matches."""
        return not self.password_hash.startswith(NO_PASSWORD)

    def get_id(self) -> str:
        """Flask-Login keeps this, signed, in the session and the "keep me signed in" cookie: the id, the session
        version (bumped to end every session) and when this sign-in happened in ms, so the server refuses the
        cookie after REMEMBER_DAYS and each sign-in issues a new value. A user loaded from a session keeps that
        session's time (`signed_in_ms`, set by the user loader); a user signing in now gets the present."""
        signed_in_ms = getattr(self, "signed_in_ms", None) or int(time.time() * 1000)
        return f"{self.id}:{self.session_version}:{signed_in_ms}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # Only a SHA-256 of the token is kept: tokens are long random strings, so a slow hash adds nothing.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Written at most once a minute per token (see auth/service.py): scripts may call many times a second.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The token's scopes, comma-separated in SCOPES order ("chat,files"); see `allows`.
    scopes: Mapped[str] = mapped_column(String(64), default=",".join(FULL_ACCESS))
    # False: calls through the /v1 gateway with this token are counted in the usage ledger, never stored.
    keep_history: Mapped[bool] = mapped_column(Boolean, default=True)

    user: Mapped[User] = relationship(back_populates="tokens")

    @property
    def scope_list(self) -> list[str]:
        return [scope for scope in (self.scopes or "").split(",") if scope]

    def allows(self, area: str, changes: bool) -> bool:
        """Whether the token may act on `area` (chat, files, faces): its own scope, or `read-only` for a read."""
        scopes = self.scope_list
        return area in scopes or (not changes and READ_ONLY in scopes)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return as_utc(self.expires_at) <= utcnow()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired
