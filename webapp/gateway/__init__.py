"""The OpenAI-compatible gateway under /v1: the company's models through the standard OpenAI clients, with a
Workbench API token (scope `chat`) as the key; each call in the caller's history, or only counted."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("gateway", __name__, url_prefix="/v1")


def init_app(app: Flask) -> None:
    """Register /v1 (bearer tokens only, never cookies, so CSRF does not apply)."""
    from webapp.extensions import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)


from webapp.gateway import views  # noqa: E402,F401
