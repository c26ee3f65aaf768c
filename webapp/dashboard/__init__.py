"""The home page: one card per feature, and a chart of the last days' activity."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from webapp.dashboard import views  # noqa: E402,F401
