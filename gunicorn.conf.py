"""gunicorn reads this file from the working directory (`make run`, the benchmarks).

The app learns how many workers run from WEB_CONCURRENCY (config.py): gunicorn takes its worker count from it
when --workers is not given, and `on_starting` sets it to the number actually started, whatever chose it.

The face engine warms up in each worker after it has loaded the app (FACE_WARMUP=1), so no model is loaded
in the master process and then shared across forks.
"""

import os


def on_starting(server):
    os.environ["WEB_CONCURRENCY"] = str(server.cfg.workers)


def post_worker_init(worker):
    from webapp.auth.throttle import per_worker_note
    from webapp.faces.runtime import warm_up_app

    app = worker.wsgi
    if not hasattr(app, "config"):
        return
    note = per_worker_note(app.config)
    if note:
        worker.log.warning("workbench: %s", note)
    if "faces" in app.extensions:
        warm_up_app(app)
