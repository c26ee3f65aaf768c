"""Where a new photo's faces get indexed: on the Celery worker when CELERY_BROKER_URL is set, else on one
background thread of this process. Either way the upload has been answered before any face work starts.

The thread is the app's own (`app.extensions["face_indexer"]`), started on the first photo; it works through a
queue of file ids, one photo at a time, inside an app context. A photo whose job is lost (the process stopped, the
broker was down) stays pending: `flask --app wsgi faces index` indexes every pending photo, and is safe to run
again (a photo already indexed is skipped).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from flask import Flask, current_app

log = logging.getLogger("webapp.people")

INDEX_TASK = "people.index_photo"


class BackgroundIndexer:
    """One daemon thread per app indexing the photos it is handed, in order."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._queue: queue.Queue[int] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, file_id: int) -> None:
        self._queue.put(file_id)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="face-indexer", daemon=True)
                self._thread.start()

    def join(self) -> None:
        """Wait until every photo handed in so far is done (tests, and the CLI's own runs)."""
        self._queue.join()

    def _run(self) -> None:
        from webapp.extensions import db
        from webapp.people import service

        while True:
            file_id = self._queue.get()
            try:
                with self.app.app_context():
                    try:
                        service.index_photo(file_id)
                    finally:
                        db.session.remove()
            except Exception:
                log.exception("indexing the faces of file %s failed; it stays pending", file_id)
            finally:
                self._queue.task_done()


def init_app(app: Flask) -> None:
    """The Celery task when the faces feature built a Celery app, else the background thread."""
    celery = app.extensions.get("celery")
    if celery is not None:
        celery.task(name=INDEX_TASK)(_index_photo_task)
    else:
        app.extensions["face_indexer"] = BackgroundIndexer(app)


def _index_photo_task(file_id: int) -> None:
    from webapp.people import service

    service.index_photo(file_id)


def schedule(file_id: int) -> None:
    """Queue one photo for indexing; a broker that cannot be reached leaves it pending (logged), never an error."""
    app: Any = current_app
    celery = app.extensions.get("celery")
    if celery is None:
        app.extensions["face_indexer"].submit(file_id)
        return
    try:
        celery.send_task(INDEX_TASK, args=[file_id], queue=app.config["FACE_QUEUE"])
    except Exception as error:
        log.warning("face indexing of file %s not queued (%s); it stays pending", file_id, error.__class__.__name__)
