"""Saved prompts: a personal library of prompts (title, text, a `/command`), plus the prompts admins share with
everyone; typing `/` in the chat's message box offers them (static/js/prompts.js)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("prompts", __name__, url_prefix="/prompts")


def init_app(app: Flask) -> None:
    """Register the library's pages and the template global the chat composer's picker reads."""
    from webapp.prompts.service import picker_prompts

    app.register_blueprint(bp)
    app.add_template_global(picker_prompts, "saved_prompts")


from webapp.prompts import views  # noqa: E402,F401
