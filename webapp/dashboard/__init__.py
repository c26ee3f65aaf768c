"""The home page: one card per feature, and a chart of the last days' activity."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("dashboard", __name__)


def init_app(app: Flask) -> None:
    """Register the home page; the features register its cards and chart lines in their own `init_app`."""
    app.register_blueprint(bp)


from webapp.dashboard import views  # noqa: E402,F401
