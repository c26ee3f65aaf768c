"""Saved prompts' rules, for the library page, the chat composer's picker and the JSON API alike.

A prompt belongs to its author, who alone edits or deletes it; an admin may share one of theirs with everyone,
and it is then offered to every user's picker too. A `/command` is unique per author: checked first for a clear
message, and by the database's unique constraint when two saves race.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.bounds import without_nul
from webapp.errors import Refused
from webapp.extensions import db
from webapp.prompts.models import COMMAND_LENGTH, TITLE_LENGTH, SavedPrompt
from webapp.security import owned_or_404
from webapp.timeutil import utcnow

COMMAND_PATTERN = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{COMMAND_LENGTH - 1}}}")
NOT_FOUND = "There is no such prompt, or it is not yours."
ONLY_ADMINS_SHARE = "Only an administrator can share a prompt with everyone."


# -- input rules -------------------------------------------------------------------------------------------------


def clean_command(command: str | None) -> str:
    """The command as stored: without its slash, lower case; refused unless it is one word of letters, digits,
    `-` and `_` (it is typed after a slash in the message box, where a space ends it)."""
    value = without_nul(command or "").strip().removeprefix("/").lower()
    if not value:
        raise Refused("Give the prompt a command, e.g. /summarize.", field="command")
    if not COMMAND_PATTERN.fullmatch(value):
        raise Refused(
            f"A command is one word of at most {COMMAND_LENGTH} letters, digits, '-' or '_', starting with a letter "
            f"or digit, e.g. /summarize or /fix-grammar; {'/' + value!r} is not.",
            field="command",
        )
    return value


def clean_title(title: str | None) -> str:
    value = " ".join(without_nul(title or "").split())
    if not value:
        raise Refused("Give the prompt a title.", field="title")
    if len(value) > TITLE_LENGTH:
        raise Refused(f"The title is {len(value):,} characters long; the limit is {TITLE_LENGTH}.", field="title")
    return value


def clean_text(text: str | None) -> str:
    """The prompt's text, as the message box will receive it: at most a message's length."""
    value = without_nul(text or "").replace("\r\n", "\n").strip()
    if not value:
        raise Refused("Write the prompt's text.", field="text")
    limit = current_app.config["CHAT_MAX_MESSAGE_CHARS"]
    if len(value) > limit:
        raise Refused(
            f"The prompt is {len(value):,} characters long; the limit is {limit:,} characters (a message's).",
            status=413,
            field="text",
            limit=limit,
        )
    return value


def check_may_share(user: User, shared: bool) -> None:
    if shared and not user.is_admin:
        raise Refused(ONLY_ADMINS_SHARE, status=403, field="shared")


# -- reading -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Library:
    """What the library page shows: the user's own prompts, and those admins share with everyone."""

    own: list[SavedPrompt]
    shared: list[SavedPrompt]


def library(user: User) -> Library:
    rows = db.session.scalars(
        select(SavedPrompt)
        .where(or_(SavedPrompt.user_id == user.id, SavedPrompt.shared.is_(True)))
        .options(joinedload(SavedPrompt.user))  # a shared prompt shows its author
        .order_by(SavedPrompt.command, SavedPrompt.id)
    ).all()
    return Library(
        own=[row for row in rows if row.user_id == user.id],
        shared=[row for row in rows if row.user_id != user.id],
    )


def offered(user: User) -> list[SavedPrompt]:
    """The prompts the picker offers `user`, by command: their own, then those shared with everyone under a
    command they do not use themselves (their own /summarize wins over a shared one)."""
    found = library(user)
    own_commands = {prompt.command for prompt in found.own}
    return sorted(
        [*found.own, *(prompt for prompt in found.shared if prompt.command not in own_commands)],
        key=lambda prompt: (prompt.command, prompt.user_id != user.id),
    )


def picker_prompts() -> list[dict[str, Any]]:
    """Template global `saved_prompts()`: the signed-in user's picker entries (none for a visitor)."""
    if not current_user.is_authenticated:
        return []
    return [
        {"command": prompt.command, "title": prompt.title, "text": prompt.text, "shared": prompt.shared}
        for prompt in offered(current_user)
    ]


def get_prompt(user: User, prompt_id: int) -> SavedPrompt:
    """One of the user's own prompts (a prompt shared by someone else is theirs to change: 404 here)."""
    return owned_or_404(SavedPrompt, prompt_id, user, NOT_FOUND)


# -- changes -----------------------------------------------------------------------------------------------------


def create_prompt(
    user: User, command: str | None, title: str | None, text: str | None, shared: bool = False
) -> SavedPrompt:
    prompt = SavedPrompt(
        user_id=user.id,
        command=clean_command(command),
        title=clean_title(title),
        text=clean_text(text),
        shared=bool(shared),
    )
    check_may_share(user, prompt.shared)
    refuse_taken_command(user, prompt.command)
    db.session.add(prompt)
    save(prompt.command, flush_only=prompt.shared)  # the audit event names the new prompt's id
    if prompt.shared:
        audit.record("prompt.share", user=user, target=prompt, detail=f"/{prompt.command}")
        db.session.commit()
    return prompt


def update_prompt(
    user: User,
    prompt_id: int,
    *,
    command: str | None = None,
    title: str | None = None,
    text: str | None = None,
    shared: bool | None = None,
) -> SavedPrompt:
    """Change what is given (None leaves a part as it is); nothing changes when any part is refused."""
    prompt = get_prompt(user, prompt_id)
    changes = {
        "command": clean_command(command) if command is not None else prompt.command,
        "title": clean_title(title) if title is not None else prompt.title,
        "text": clean_text(text) if text is not None else prompt.text,
        "shared": bool(shared) if shared is not None else prompt.shared,
    }
    if changes["command"] != prompt.command:
        refuse_taken_command(user, changes["command"])
    if changes["shared"] != prompt.shared:
        check_may_share(user, changes["shared"])
        audit.record(
            "prompt.share" if changes["shared"] else "prompt.unshare",
            user=user,
            target=prompt,
            detail=f"/{changes['command']}",
        )
    for name, value in changes.items():
        setattr(prompt, name, value)
    prompt.updated_at = utcnow()
    save(prompt.command)
    return prompt


def delete_prompt(user: User, prompt_id: int) -> str:
    """Delete one of the user's prompts; returns its command, for the page to say which."""
    prompt = get_prompt(user, prompt_id)
    command = prompt.command
    db.session.delete(prompt)
    db.session.commit()
    return command


def refuse_taken_command(user: User, command: str) -> None:
    taken = db.session.scalar(
        select(SavedPrompt.id).where(SavedPrompt.user_id == user.id, SavedPrompt.command == command)
    )
    if taken is not None:
        raise taken_command(command)


def taken_command(command: str) -> Refused:
    return Refused(f"You already have a prompt /{command}; choose another command.", status=409, field="command")


def save(command: str, *, flush_only: bool = False) -> None:
    """Commit (or only flush); the unique constraint turns the loser of two simultaneous saves of one command
    into a 409."""
    try:
        db.session.flush() if flush_only else db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise taken_command(command) from None
