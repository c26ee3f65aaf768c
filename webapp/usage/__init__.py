"""Token usage: one ledger row per request sent to a model, whatever became of its conversation; "My usage", the
admins' usage report and its CSV, and `flask usage limit`."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("usage", __name__)


def init_app(app: Flask) -> None:
    """Register the usage pages and the `flask usage` CLI."""
    from webapp.usage.cli import usage_cli

    app.register_blueprint(bp)
    app.cli.add_command(usage_cli)


from webapp.usage import views  # noqa: E402,F401
