"""Sign-in, sign-out, the account page and personal API tokens."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from webapp.auth import views  # noqa: E402,F401  (routes register on import)
