"""Sharing a conversation: a read-only snapshot behind a link for signed-in colleagues (/shared/<token>), managed
by its owner from the conversation (/chat/<id>/share), listed and revocable by admins (/admin/shares)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("sharing", __name__)
admin_bp = Blueprint("sharing_admin", __name__, url_prefix="/admin/shares")


def init_app(app: Flask) -> None:
    """Register the share pages, and delete a conversation's share whenever chat deletes the conversation."""
    from config import ConfigError
    from webapp.sharing.service import forget_conversations

    if app.config["SHARE_DEFAULT_DAYS"] > app.config["SHARE_MAX_DAYS"]:
        raise ConfigError(
            f"SHARE_DEFAULT_DAYS ({app.config['SHARE_DEFAULT_DAYS']}) is more than SHARE_MAX_DAYS "
            f"({app.config['SHARE_MAX_DAYS']})"
        )
    for blueprint in (bp, admin_bp):
        app.register_blueprint(blueprint)
    app.extensions.setdefault("conversation_dependents", []).append(forget_conversations)


from webapp.sharing import views  # noqa: E402,F401
