"""Sign-in, sign-out, the account page and personal API tokens."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("auth", __name__)


def init_app(app: Flask) -> None:
    """Register the sign-in and account pages, and the `flask users` and `flask tokens` commands."""
    from webapp.auth.cli import tokens_cli, users_cli
    from webapp.auth.oidc import init_oidc

    init_oidc(app)
    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)


from webapp.auth import views  # noqa: E402,F401  (routes register on import)
