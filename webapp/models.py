"""Every model, imported in one place so Alembic and the app see the whole schema."""

from collections.abc import Callable
from typing import Any

from webapp.auth.models import ApiToken, User  # isort: skip  (users first: others point at them)
from webapp.audit.models import AuditEvent
from webapp.chat.models import Conversation, Message, is_search_index_table
from webapp.files.models import StoredFile
from webapp.governance.models import Group, UserLimit, group_members
from webapp.projects.models import Project
from webapp.prompts.models import SavedPrompt
from webapp.review.models import AdminReview
from webapp.sharing.models import ConversationShare, SharedMessage, ShareView
from webapp.usage.models import UsageEvent, UsageMonth

from webapp.attachments.models import (  # isort: skip  (they point at files and messages)
    FilePassage,
    FileText,
    MessageFile,
    MessageSource,
    ProjectFile,
    is_passage_index_table,
)

from webapp.faces.models import FaceAnalysis, FaceComparison, FaceEmbedding, FaceSearch  # isort: skip  (they point at files)
from webapp.people.models import Face, FaceLibraryVersion, IndexedPhoto, Person  # isort: skip

__all__ = [
    "AdminReview",
    "ApiToken",
    "AuditEvent",
    "Conversation",
    "ConversationShare",
    "FaceAnalysis",
    "FaceComparison",
    "Face",
    "FaceEmbedding",
    "FilePassage",
    "FileText",
    "FaceLibraryVersion",
    "FaceSearch",
    "IndexedPhoto",
    "Group",
    "Message",
    "MessageFile",
    "MessageSource",
    "Person",
    "Project",
    "ProjectFile",
    "SavedPrompt",
    "ShareView",
    "SharedMessage",
    "StoredFile",
    "UsageEvent",
    "UsageMonth",
    "User",
    "UserLimit",
    "group_members",
]


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic's filter when comparing the database with the models: SQLite's FTS5 tables are made by DDL (see
    webapp/chat/models.py), not described by a model, so they are left out rather than reported as extra."""
    return not (type_ == "table" and name is not None and (is_search_index_table(name) or is_passage_index_table(name)))


def include_object_on(backend: str) -> Callable[..., bool]:
    """Alembic's filter of schema objects when comparing a `backend` database ("postgresql", "sqlite") with the
    models: an index the models make on another database only (`Index(...).ddl_if(dialect="postgresql")`, such as
    the title's trigrams, which SQLite has no operators for) is not reported missing here.

    SQLAlchemy keeps that condition as `Index._ddl_if` and Alembic does not read it. Were the attribute renamed,
    every index would be compared again and the migrations test would fail: loudly, not silently."""

    def include_object(object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ != "index" or reflected:
            return True
        condition = getattr(object_, "_ddl_if", None)
        if condition is None or condition.dialect is None:
            return True
        dialects = (condition.dialect,) if isinstance(condition.dialect, str) else tuple(condition.dialect)
        return backend in dialects

    return include_object
