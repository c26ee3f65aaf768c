"""Faces: compare two photos and analyse faces with DeepFace, offline.

`engine.py`, `analyzers.py`, `weights.py` and `errors.py` are the face engine (no Flask); `runtime.py` builds
one engine per process from the settings; `service.py` holds the rules the pages (`views.py`), the JSON API
(`webapp/api/faces.py`) and the Celery worker (`tasks.py`, `worker.py`) share.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("faces", __name__, url_prefix="/faces")


def init_app(app: Flask) -> None:
    """Check the engine's settings, build the job queue when a broker is set; register the pages, dashboard card
    and chart line."""
    from webapp.dashboard.activity import register_activity
    from webapp.dashboard.cards import register_card
    from webapp.faces import runtime, tasks
    from webapp.faces.service import checks_per_day
    from webapp.faces.views import dashboard_card

    runtime.init_app(app)
    tasks.init_app(app)
    app.register_blueprint(bp)
    register_card(app, "faces", dashboard_card)
    register_activity(app, "faces", "Face checks", checks_per_day)


from webapp.faces import views  # noqa: E402,F401
