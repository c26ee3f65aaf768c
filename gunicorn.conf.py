"""gunicorn reads this file from the working directory (`make run`, the benchmarks).

The app learns how many workers run from WEB_CONCURRENCY (config.py): gunicorn takes its worker count from it
when --workers is not given, and `on_starting` sets it to the number actually started, whatever chose it.

Each worker, once it has loaded the app, says when the sign-in throttle counts in its own memory, names any
missing face weight file and warms the face engine up (FACE_WARMUP=1), so no model is loaded in the master
process and then shared across forks.
"""

from config import announce_worker_count


def on_starting(server):
    announce_worker_count(server.cfg.workers)


def post_worker_init(worker):
    from webapp.auth.throttle import per_worker_note
    from webapp.faces.runtime import prepare_worker

    app = worker.wsgi
    if not hasattr(app, "config"):
        return
    note = per_worker_note(app.config)
    if note:
        worker.log.warning("workbench: %s", note)
    if "faces" in app.extensions:
        prepare_worker(app)
