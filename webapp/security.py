"""Access rules shared by every feature: admin-only views, object ownership, safe redirects, text input."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from flask import abort, request
from flask_login import current_user, login_required

from webapp.errors import NotFound, Refused
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


NUL_MESSAGE = "Text cannot contain the NUL character (\\0, %00)."


def contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


def refuse_nul_text() -> None:
    """Refuse a NUL character in the query string, form fields or JSON body with a 400, before any view.

    PostgreSQL can neither store nor compare text holding one (psycopg raises DataError), so a search or a
    name with `%00` would otherwise end in a 500; no person types it. Uploaded files' bytes are not text and
    are not looked at."""
    fields = [*request.args.lists(), *request.form.lists()]
    if any(contains_nul(name) or contains_nul(values) for name, values in fields):
        raise Refused(NUL_MESSAGE)
    if request.is_json and contains_nul(request.get_json(silent=True)):
        raise Refused(NUL_MESSAGE)
