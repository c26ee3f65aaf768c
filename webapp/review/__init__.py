"""Admin review with a reason: an admin opening someone else's conversation, file or face result says why first;
the owner sees on their history page that an administrator opened it, when and why (ADMIN_REVIEW_NOTIFY)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("review", __name__, url_prefix="/admin/review")


def init_app(app: Flask) -> None:
    """Register the reason form, and the notices' template global for the owner's history page."""
    from webapp.review.service import notices_for

    app.register_blueprint(bp)
    app.add_template_global(notices_for, "admin_review_notices")


from webapp.review import views  # noqa: E402,F401
