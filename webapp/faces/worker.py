"""Celery entry point for face jobs: `celery --app webapp.faces.worker:celery worker` (what `make worker` runs).

Builds the Flask app from the same settings as the web server (environment and .env), so the worker reads
the same database and file library. Each worker process, after the fork (never the parent), names any missing
face weight file and warms the engine up when FACE_WARMUP=1.
"""

from __future__ import annotations

from celery.signals import worker_process_init

from webapp import create_app
from webapp.faces.runtime import prepare_worker

flask_app = create_app()
if "celery" not in flask_app.extensions:
    raise SystemExit(
        "workbench: CELERY_BROKER_URL is not set; set it (e.g. redis://127.0.0.1:6379/1) for the web app and "
        "the worker alike, or leave it unset in both to run face jobs inline."
    )
celery = flask_app.extensions["celery"]


@worker_process_init.connect
def prepare(**_: object) -> None:
    prepare_worker(flask_app)
