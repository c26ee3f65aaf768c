"""Access rules shared by every feature: admin-only views, object ownership, safe redirects."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user, login_required

from webapp.errors import NotFound
from webapp.extensions import db

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")


def admin_required(view: F) -> F:
    """Signed-in admins only: anonymous users go to the sign-in page, staff get 403."""

    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def owned_or_404(model: type[M], object_id: int, user: Any, owner_field: str = "user_id") -> M:
    """Return the user's object, or 404 (never 403: ids are not confirmed to strangers)."""
    item = db.session.get(model, object_id)
    if item is None or getattr(item, owner_field) != user.id:
        raise NotFound(f"There is no such {model.__name__.lower()}, or it is not yours.")
    return item


def safe_next_url(target: str | None) -> str | None:
    """Only paths on this site: no scheme, no host, no protocol-relative `//evil`, no backslash tricks."""
    if not target:
        return None
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    if any(ord(character) < 32 for character in target):
        return None
    return target
