"""Face jobs on a Celery worker, when CELERY_BROKER_URL is set; without it they run inline in the request.

One Celery app per Flask app (kept on `app.extensions["celery"]`), following Flask's Celery pattern: every
task runs inside the Flask app's context, so the worker uses the very same service functions and database.
Jobs carry only a row id: the worker reads the photos from the file library itself.
Results are written to the FaceComparison / FaceAnalysis rows, so no Celery result backend is needed.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

COMPARE_TASK = "faces.run_comparison"
ANALYZE_TASK = "faces.run_analysis"


def init_app(app: Flask) -> None:
    """Build the app's Celery instance when a broker is configured."""
    broker = app.config["CELERY_BROKER_URL"]
    if not broker:
        return
    from celery import Celery, Task

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=FlaskTask)
    timeout = app.config["FACE_JOB_TIMEOUT"]
    celery.conf.update(
        broker_url=broker,
        task_ignore_result=True,
        task_default_queue=app.config["FACE_QUEUE"],
        # A job that runs past the timeout is stopped; the service marks it failed when it is next read.
        task_time_limit=timeout,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": max(timeout * 2, 3600)},
        worker_hijack_root_logger=False,
        **app.config.get("CELERY_OPTIONS", {}),
    )
    celery.task(name=COMPARE_TASK)(_run_comparison)
    celery.task(name=ANALYZE_TASK)(_run_analysis)
    app.extensions["celery"] = celery


def _run_comparison(comparison_id: int) -> None:
    from webapp.faces import service

    service.run_comparison(comparison_id)


def _run_analysis(analysis_id: int) -> None:
    from webapp.faces import service

    service.run_analysis(analysis_id)


def queue_enabled() -> bool:
    return "celery" in current_app.extensions


def enqueue(task_name: str, row_id: int) -> None:
    """Send a job to the worker; raises kombu's OperationalError when the broker cannot be reached."""
    celery = current_app.extensions["celery"]
    celery.send_task(task_name, args=[row_id], queue=current_app.config["FACE_QUEUE"])
