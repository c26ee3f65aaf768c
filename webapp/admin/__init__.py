"""User management and review of everyone's activity (admins only)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from webapp.admin import files, views  # noqa: E402,F401
