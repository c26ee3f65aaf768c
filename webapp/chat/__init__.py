"""Chat with AI models (/chat), the user's history of it (/history), and the admins' review (/admin/history)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("chat", __name__, url_prefix="/chat")
history_bp = Blueprint("history", __name__, url_prefix="/history")
admin_history_bp = Blueprint("chat_admin", __name__, url_prefix="/admin/history")


def init_app(app: Flask) -> None:
    """Build the model providers once; register chat's pages, template filter, dashboard cards, chart line, CLI."""
    from config import ConfigError
    from webapp.chat.cli import chat_cli
    from webapp.chat.dashboard import chat_card, history_card
    from webapp.chat.history import messages_per_day
    from webapp.chat.markdown import render_markdown
    from webapp.chat.providers import ProviderSettings, build_providers
    from webapp.chat.temporary import quiet_model_clients
    from webapp.dashboard.activity import register_activity
    from webapp.dashboard.cards import register_card

    try:
        app.extensions["chat_providers"] = build_providers(ProviderSettings.from_config(app.config))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    # A message may be CHAT_MAX_MESSAGE_CHARS characters of up to 4 bytes each, sent as a form field:
    # the form parser must accept it, so the service can judge it (and name the limit if it is too long).
    form_limit = 4 * app.config["CHAT_MAX_MESSAGE_CHARS"] + 64 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = max(app.config.get("MAX_FORM_MEMORY_SIZE") or 0, form_limit)

    for blueprint in (bp, history_bp, admin_history_bp):
        app.register_blueprint(blueprint)
    app.add_template_filter(render_markdown, "markdown")
    quiet_model_clients()
    register_card(app, "chat", chat_card)
    register_card(app, "history", history_card)
    register_activity(app, "chat", "Chat messages", messages_per_day)
    app.cli.add_command(chat_cli)


from webapp.chat import admin_views, history_views, views  # noqa: E402,F401
