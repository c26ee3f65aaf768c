"""People: every library photo's faces indexed, search by face, and the people of a library.

`models.py` the face index and people; `matrix.py` the exact search over per-owner float32 matrices cached per
process (no Flask); `indexer.py` where indexing runs (the Celery worker, or a thread of the app); `service.py`
the rules the pages (`views.py`), the JSON API (`webapp/api/people.py`), the CLI (`cli.py`, `flask faces ...`)
and the worker share.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("people", __name__)


def init_app(app: Flask) -> None:
    """Follow the file library (index new photos, drop deleted ones' faces), start the indexer, the matrices'
    cache, the pages and `flask faces`. After `faces`, whose Celery app the indexing task joins."""
    from webapp.files.service import add_library_filter, listen
    from webapp.people import indexer, service
    from webapp.people.cli import faces_cli
    from webapp.people.matrix import MatrixCache

    indexer.init_app(app)
    app.extensions["face_matrices"] = MatrixCache()
    listen(app, "stored", service.on_stored)
    listen(app, "deleting", service.on_deleting)
    add_library_filter(app, service.library_filter)
    app.register_blueprint(bp)
    app.cli.add_command(faces_cli)


from webapp.people import views  # noqa: E402,F401
