"""Import conversations from ChatGPT, Open WebUI or another Workbench (/import and POST /api/conversations/import).

`formats.py` reads the export files as a stream, `service.py` writes what they hold in one transaction; the
page (`views.py`) shows the upload's progress and then the outcome.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from webapp.units import MEGABYTE

bp = Blueprint("imports", __name__, url_prefix="/import")


def init_app(app: Flask) -> None:
    """Register the import page; its upload takes one file of up to CHAT_IMPORT_MAX_MB."""
    # The key the upload route names (webapp.files.uploads.accepts_upload_up_to): bytes, worked out once.
    app.config["CHAT_IMPORT_MAX_BYTES"] = app.config["CHAT_IMPORT_MAX_MB"] * MEGABYTE
    app.register_blueprint(bp)


from webapp.imports import views  # noqa: E402,F401
