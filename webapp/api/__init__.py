"""The JSON API under /api/: bearer tokens, no cookies, the same services as the pages."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api")


def init_app(app: Flask) -> None:
    """Register the /api routes (and their OpenAPI document)."""
    from webapp.extensions import csrf

    # The API authenticates with bearer tokens only, never cookies, so CSRF does not apply to it.
    csrf.exempt(bp)
    app.register_blueprint(bp)


from webapp.api import (  # noqa: E402,F401
    auth,
    chat,
    faces,
    files,
    imports,
    openapi,
    people,
    projects,
    prompts,
    sharing,
    usage,
    views,
)
