"""Project rules: a user's folders of conversations, their instructions and default model; moving chats in and out.

Pages and the JSON API call these functions. A project belongs to one user: anyone else's is a 404. Deleting a
project moves its conversations out (they stay in the history), it never deletes them. How a project's
instructions reach the model is `webapp.chat.service.system_prompt_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, select, update

from webapp.auth.models import User
from webapp.bounds import page_number, without_nul
from webapp.chat import service as chat
from webapp.chat.models import Conversation
from webapp.errors import Refused
from webapp.extensions import db
from webapp.projects.models import MAX_NAME_LENGTH, Project
from webapp.security import owned_or_404, require_owner
from webapp.timeutil import utcnow

NOT_FOUND = "There is no such project, or it is not yours."
# What PATCH may change.
FIELDS = ("name", "instructions", "model")


# -- input rules -------------------------------------------------------------------------------------------------


def clean_name(name: str | None) -> str:
    name = " ".join(without_nul(name or "").split())
    if not name:
        raise Refused("Give the project a name.", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise Refused(f"A project's name can be at most {MAX_NAME_LENGTH} characters long.", field="name")
    return name


def clean_instructions(text: str | None) -> str | None:
    """Instructions as stored (no NUL, Unix line ends, trimmed), None when blank; as long as a system prompt may be."""
    text = without_nul(text or "").replace("\r\n", "\n").strip()
    limit = current_app.config["CHAT_MAX_MESSAGE_CHARS"]
    if len(text) > limit:
        raise Refused(
            f"The instructions are {len(text):,} characters long; the limit is {limit:,} characters.",
            status=413,
            field="instructions",
            limit=limit,
        )
    return text or None


def clean_model(value: str | None) -> str | None:
    """The default model as the picker names it ("provider:model"), or None for the app's default."""
    value = without_nul(value or "").strip()
    if not value:
        return None
    if not chat.is_configured():
        raise Refused("No model is configured here yet, so leave the project's model empty.", field="model")
    return chat.resolve_model(value).value


# -- projects ----------------------------------------------------------------------------------------------------


def get_project(user: User, project_id: int) -> Project:
    """The user's project, or 404 (never 403)."""
    return owned_or_404(Project, project_id, user, NOT_FOUND)


def list_projects(user: User) -> list[Project]:
    """The user's projects, by name."""
    return list(
        db.session.scalars(select(Project).where(Project.user_id == user.id).order_by(Project.name, Project.id))
    )


def conversation_counts(user: User) -> dict[int, int]:
    """How many conversations each of the user's projects holds (projects with none are missing)."""
    rows = db.session.execute(
        select(Conversation.project_id, func.count())
        .where(Conversation.user_id == user.id, Conversation.project_id.is_not(None))
        .group_by(Conversation.project_id)
    )
    return {project_id: count for project_id, count in rows}


def create_project(user: User, name: str | None, instructions: str | None = None, model: str | None = None) -> Project:
    name = clean_name(name)
    project = Project(
        user_id=user.id,
        name=name,
        instructions=clean_instructions(instructions),
        model=clean_model(model),
    )
    now = utcnow()
    project.created_at = project.updated_at = now
    db.session.add(project)
    db.session.commit()
    return project


def update_project(user: User, project_id: int, changes: Mapping[str, Any]) -> Project:
    """Change the fields named in `changes` (name, instructions, model); the others stay as they are."""
    project = get_project(user, project_id)
    if "name" in changes:
        project.name = clean_name(changes["name"])
    if "instructions" in changes:
        project.instructions = clean_instructions(changes["instructions"])
    if "model" in changes:
        project.model = clean_model(changes["model"])
    project.updated_at = utcnow()
    db.session.commit()
    return project


def delete_project(user: User, project_id: int) -> int:
    """Delete the project; its conversations move out of it (kept, in the history). Returns how many moved."""
    project = get_project(user, project_id)
    # Explicitly, in the same transaction: SQLite does not apply the foreign key's ON DELETE SET NULL by itself.
    moved = db.session.execute(
        update(Conversation)
        .where(Conversation.project_id == project.id)
        .values(project_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.delete(project)
    db.session.commit()
    return moved or 0


def default_model(project: Project | None) -> str | None:
    """The model a new conversation of `project` starts with: its own if still offered here, else None (the app's
    default), so a model an administrator removed does not stop anyone from starting a chat."""
    if project is None or not project.model:
        return None
    return project.model if project.model in {choice.value for choice in chat.model_choices()} else None


# -- conversations in projects -----------------------------------------------------------------------------------


def move_conversation(user: User, conversation_id: int, project_id: int | None) -> Conversation:
    """Put the user's conversation into their project `project_id`, or out of any project (None)."""
    conversation = chat.get_conversation(user, conversation_id)
    conversation.project_id = get_project(user, project_id).id if project_id is not None else None
    db.session.commit()
    return conversation


def project_conversations(user: User, project: Project, page: int = 1) -> Pagination:
    """The project's conversations, most recently active first (PAGE_SIZE a page)."""
    require_owner(project, user, NOT_FOUND)
    statement = (
        select(Conversation)
        .where(Conversation.project_id == project.id, Conversation.user_id == user.id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )
    return db.paginate(statement, page=page_number(page), per_page=current_app.config["PAGE_SIZE"], error_out=False)


def parse_project_id(value: Any) -> int | None:
    """A project id from a form or query value: blank is none; anything but a whole number is refused (400)."""
    text = without_nul(str(value or "")).strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        raise Refused(f"The project must be given by its number, not {text[:40]!r}.", field="project_id")
    return int(text)
