"""The rules of an admin's review: a reason first, kept in the audit log, shown to the owner.

An admin who opens someone else's conversation (/admin/history/<id>), file (the admins' download) or face result
(its page, result and full-size photos) is first sent to a short form asking why. The reason is written to
`admin_reviews` and, in the same transaction, to the audit log (`review.reason`, the reason in its detail). For
REASON_LASTS afterwards the same admin opens the same object without being asked again (its page loads photos
and polls; the admin may come back to it). Lists of everyone's files and face results (their thumbnails) are
listings, audited as before, and ask for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app, url_for
from sqlalchemy import select

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.bounds import is_database_id, without_nul
from webapp.errors import NotFound, Refused
from webapp.extensions import db
from webapp.review.models import AdminReview
from webapp.timeutil import utcnow

REASON_LASTS = timedelta(minutes=30)
MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 500
NOTICES_SHOWN = 20


@dataclass(frozen=True)
class Target:
    """Someone's object an admin may review: what it is called, whose it is, where it opens."""

    kind: str
    row: Any
    owner: User
    label: str
    url: str

    @property
    def id(self) -> int:
        return self.row.id


def _conversation(target_id: int) -> Target:
    from webapp.chat.models import Conversation

    row = _get(Conversation, target_id, "There is no such conversation.")
    url = url_for("chat_admin.conversation", conversation_id=row.id)
    return Target("conversation", row, row.user, f"conversation “{row.title}”", url)


def _file(target_id: int) -> Target:
    from webapp.files import service as files

    row = files.get_any(target_id)
    return Target("file", row, row.user, f"file “{row.original_name}”", url_for("admin.file_download", file_id=row.id))


def _comparison(target_id: int) -> Target:
    from webapp.faces.models import FaceComparison

    row = _get(FaceComparison, target_id, "There is no such face comparison.")
    label = f"face comparison of “{row.name_a}” and “{row.name_b}”"
    return Target("comparison", row, row.user, label, url_for("faces.comparison_detail", row_id=row.id))


def _analysis(target_id: int) -> Target:
    from webapp.faces.models import FaceAnalysis

    row = _get(FaceAnalysis, target_id, "There is no such face analysis.")
    label = f"face analysis of “{row.name}”"
    return Target("analysis", row, row.user, label, url_for("faces.analysis_detail", row_id=row.id))


def _search(target_id: int) -> Target:
    from webapp.faces.models import FaceSearch

    row = _get(FaceSearch, target_id, "There is no such face search.")
    label = f"face search with “{row.name}”"
    return Target("search", row, row.user, label, url_for("people.search_detail", row_id=row.id))


def _get(model: type, target_id: int, message: str) -> Any:
    row = db.session.get(model, target_id) if is_database_id(target_id) else None
    if row is None:
        raise NotFound(message)
    return row


# Each kind of object an admin reviews, and how to load one by id.
KINDS: dict[str, Callable[[int], Target]] = {
    "conversation": _conversation,
    "file": _file,
    "comparison": _comparison,
    "analysis": _analysis,
    "search": _search,
}


def target(kind: str, target_id: int) -> Target:
    """The object `kind` and `target_id` name, or NotFound."""
    loader = KINDS.get(kind)
    if loader is None:
        raise NotFound("There is nothing of that kind to review.")
    return loader(target_id)


def needs_reason(admin: User, kind: str, row: Any) -> bool:
    """Whether `admin` must say why before opening `row` (someone else's, no reason given in REASON_LASTS)."""
    if not admin.is_admin or row.user_id == admin.id:
        return False
    return latest_reason(admin, kind, row.id) is None


def latest_reason(admin: User, kind: str, target_id: int) -> AdminReview | None:
    return db.session.scalar(
        select(AdminReview)
        .where(
            AdminReview.admin_id == admin.id,
            AdminReview.target_type == kind,
            AdminReview.target_id == target_id,
            AdminReview.created_at >= utcnow() - REASON_LASTS,
        )
        .order_by(AdminReview.created_at.desc())
        .limit(1)
    )


def clean_reason(reason: str | None) -> str:
    reason = " ".join(without_nul(reason or "").split())
    if len(reason) < MIN_REASON_CHARS:
        raise Refused(
            f"Say why you are opening it, in at least {MIN_REASON_CHARS} characters: the owner may read it.",
            field="reason",
        )
    if len(reason) > MAX_REASON_CHARS:
        raise Refused(f"Keep the reason under {MAX_REASON_CHARS} characters ({len(reason)} now).", field="reason")
    return reason


def give_reason(admin: User, kind: str, target_id: int, reason: str | None) -> Target:
    """Record why `admin` opens someone else's object: the review row and its audit row, in one transaction."""
    found = target(kind, target_id)
    reason = clean_reason(reason)
    if found.owner.id == admin.id:
        return found  # one's own needs no reason
    db.session.add(
        AdminReview(
            admin_id=admin.id,
            owner_id=found.owner.id,
            target_type=kind,
            target_id=found.id,
            label=found.label[:300],
            reason=reason,
        )
    )
    audit.record(
        "review.reason", user=admin, target=found.row, detail=f"{found.label} of {found.owner.email}: {reason}"
    )
    db.session.commit()
    return found


def notices_for(user: User) -> list[AdminReview]:
    """The latest times an administrator opened `user`'s things, newest first (none when ADMIN_REVIEW_NOTIFY is
    off: the reasons are still in the audit log)."""
    if not current_app.config["ADMIN_REVIEW_NOTIFY"] or not getattr(user, "is_authenticated", False):
        return []
    return list(
        db.session.scalars(
            select(AdminReview)
            .where(AdminReview.owner_id == user.id)
            .order_by(AdminReview.created_at.desc(), AdminReview.id.desc())
            .limit(NOTICES_SHOWN)
        )
    )
