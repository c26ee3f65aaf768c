"""Files in chat: documents and photos of the library attached to messages, read once, excerpted and cited."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("attachments", __name__, url_prefix="/chat/files")


def init_app(app: Flask) -> None:
    """Read a document's text when the files service keeps it and forget it when the file goes; the attach picker."""
    from webapp.attachments.citations import link_citations
    from webapp.attachments.service import on_file_purged, on_file_stored
    from webapp.files.service import register_hook

    register_hook(app, "stored", on_file_stored)
    register_hook(app, "purged", on_file_purged)
    app.register_blueprint(bp)
    app.add_template_filter(link_citations, "citations")


from webapp.attachments import views  # noqa: E402,F401
