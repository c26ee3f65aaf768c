"""User management and review of everyone's activity (admins only)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app: Flask) -> None:
    """Register the admins' pages: users, the audit log, everyone's files."""
    app.register_blueprint(bp)


from webapp.admin import files, views  # noqa: E402,F401
