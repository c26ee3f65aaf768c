"""The JSON API under /api/: bearer tokens, no cookies, the same services as the pages."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from webapp.api import auth, chat, faces, files, openapi, views  # noqa: E402,F401
