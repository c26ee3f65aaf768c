"""Projects (/projects): named folders of conversations, each with its own instructions and default model."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("projects", __name__, url_prefix="/projects")


def init_app(app: Flask) -> None:
    """Register the project pages (the API's routes are in webapp/api/projects.py)."""
    app.register_blueprint(bp)


from webapp.projects import views  # noqa: E402,F401
