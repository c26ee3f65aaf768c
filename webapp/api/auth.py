"""Bearer-token authentication for every /api/ route except those marked public, and the token's scopes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, g, request

from webapp.api import bp
from webapp.api.spec import OPERATION_TAGS, TAG_SCOPES
from webapp.auth import service
from webapp.auth.models import READ_ONLY, ApiToken, User
from webapp.errors import Refused

PUBLIC_ENDPOINTS: set[str] = set()
# Methods that read: a `read-only` token may send them to every area.
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an API view as reachable without a token (health checks)."""
    PUBLIC_ENDPOINTS.add(f"{bp.name}.{view.__name__}")
    return view


@bp.before_request
def require_token() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    token = bearer_token()
    if token is None:
        abort(401)
    scope = TAG_SCOPES.get(OPERATION_TAGS.get((request.endpoint or "").rpartition(".")[2], ""))
    if scope is not None:
        require_scope(token, scope)
    g.api_user = token.user
    g.api_token = token


def bearer_token() -> ApiToken | None:
    """The usable token the request presents as `Authorization: Bearer <token>`, or None."""
    scheme, _, plain = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not plain.strip():
        return None
    return service.token_for(plain.strip())


def require_scope(token: ApiToken, area: str, changes: bool | None = None) -> None:
    """403 naming the scope needed, unless `token` may act on `area` (a change unless the method only reads)."""
    if changes is None:
        changes = request.method not in READING_METHODS
    if token.allows(area, changes):
        return
    needed = f"“{area}”" if changes else f"“{area}” or “{READ_ONLY}”"
    raise Refused(
        f"This token's scopes ({', '.join(token.scope_list)}) do not cover this: it needs the scope {needed}. "
        "Create a token with that scope under Account → API tokens.",
        status=403,
        scope=area,
    )


def api_user() -> User:
    """The user the bearer token belongs to (set by `require_token`)."""
    return g.api_user
