"""Faces: compare two photos and analyse faces with DeepFace, offline.

`engine.py`, `analyzers.py`, `weights.py` and `errors.py` are the face engine (no Flask); `runtime.py` builds
one engine per process from the settings; `service.py` holds the rules the pages (`views.py`), the JSON API
(`webapp/api/faces.py`) and the Celery worker (`tasks.py`, `worker.py`) share.
"""

from flask import Blueprint

bp = Blueprint("faces", __name__, url_prefix="/faces")

from webapp.faces import views  # noqa: E402,F401
