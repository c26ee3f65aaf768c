"""Bearer-token authentication for every /api/ route except those marked public."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, g, request

from webapp.api import bp
from webapp.auth import service
from webapp.auth.models import User

PUBLIC_ENDPOINTS: set[str] = set()


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an API view as reachable without a token (health checks)."""
    PUBLIC_ENDPOINTS.add(f"{bp.name}.{view.__name__}")
    return view


@bp.before_request
def require_token() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = service.user_for_token(token.strip()) if scheme.lower() == "bearer" and token else None
    if user is None:
        abort(401)
    g.api_user = user


def api_user() -> User:
    """The user the bearer token belongs to (set by `require_token`)."""
    return g.api_user
