"""Access rules shared by every feature: admin-only views, object ownership, safe redirects."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from operator import attrgetter
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user, login_required

from webapp.bounds import is_database_id
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


def owned_or_404(
    model: type[M],
    object_id: int,
    user: Any,
    message: str | None = None,
    *,
    admins_too: bool = False,
    owner: Callable[[M], int] = attrgetter("user_id"),
    options: Sequence[Any] = (),
) -> M:
    """The user's object (any user's for an admin when `admins_too`), or NotFound with `message`: never 403, so
    ids are not confirmed to strangers. `owner` reads the owner's id (a message's is its conversation's)."""
    message = message or f"There is no such {model.__name__.lower()}, or it is not yours."
    item = db.session.get(model, object_id, options=options) if is_database_id(object_id) else None
    if item is None:
        raise NotFound(message)
    require_owner(item, user, message, admins_too=admins_too, owner=owner)
    return item


def require_owner(
    item: M, user: Any, message: str, *, admins_too: bool = False, owner: Callable[[M], int] = attrgetter("user_id")
) -> None:
    """NotFound with `message` unless `user` owns `item` (or is an admin, when `admins_too`)."""
    if owner(item) != user.id and not (admins_too and user.is_admin):
        raise NotFound(message)


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
