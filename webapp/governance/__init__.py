"""Governance: groups of users, the models each group may use, and monthly budgets (admins' pages and CLI)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("governance", __name__, url_prefix="/admin")


def init_app(app: Flask) -> None:
    """Register the admins' group and limit pages, the `flask groups` CLI and the chat page's budget warning."""
    from webapp.governance.cli import groups_cli
    from webapp.governance.service import describe_limits
    from webapp.governance.views import budget_warning

    app.register_blueprint(bp)
    app.cli.add_command(groups_cli)
    app.add_template_global(budget_warning, "budget_warning")
    app.add_template_global(describe_limits, "describe_limits")


from webapp.governance import views  # noqa: E402,F401
