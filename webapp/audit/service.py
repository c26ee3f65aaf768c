"""Recording and listing audit events."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, has_request_context, request
from sqlalchemy import select

from webapp.audit.models import AuditEvent
from webapp.auth.models import User
from webapp.bounds import page_number
from webapp.extensions import db
from webapp.timeutil import utcnow


def record(
    action: str,
    user: User | None = None,
    target: object | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction; the caller's commit writes it with the change itself."""
    event = AuditEvent(
        action=action,
        user_id=user.id if user is not None else None,
        target_type=type(target).__name__.lower() if target is not None else None,
        target_id=str(getattr(target, "id", "")) or None if target is not None else None,
        detail=(detail or None) and detail[:500],
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event


# An admin's look at someone else's content is one row per admin, object and minute: a result page and the
# photos, thumbnails and status polls it loads (each its own request, some in parallel, some minutes later)
# then share the row the page wrote, while an image opened on its own, or again later, still writes one.
VIEW_WINDOW = timedelta(minutes=1)


def record_view(action: str, user: User, target: object, detail: str | None = None) -> AuditEvent | None:
    """Add an audit event for `user` viewing `target`, unless the same view was recorded in the last minute.

    Two requests arriving at the same moment may both write one (no lock is taken for a log line); a view
    is never left out. Returns the new event, or None when an earlier one covers this view.
    """
    recent = db.session.scalar(
        select(AuditEvent.id)
        .where(
            AuditEvent.user_id == user.id,
            AuditEvent.action == action,
            AuditEvent.target_type == type(target).__name__.lower(),
            AuditEvent.target_id == str(getattr(target, "id", "")),
            AuditEvent.created_at >= utcnow() - VIEW_WINDOW,
        )
        .limit(1)
    )
    if recent is not None:
        return None
    return record(action, user, target, detail)


def list_events(user_id: int | None = None, page: int = 1, per_page: int | None = None):
    """Newest first, optionally only events by or about one user; PAGE_SIZE a page unless `per_page` says."""
    per_page = per_page or current_app.config["PAGE_SIZE"]
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if user_id:
        query = query.where(
            (AuditEvent.user_id == user_id)
            | ((AuditEvent.target_type == "user") & (AuditEvent.target_id == str(user_id)))
        )
    return db.paginate(query, page=page_number(page), per_page=per_page, error_out=False)
