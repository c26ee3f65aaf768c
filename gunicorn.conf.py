"""gunicorn reads this file from the working directory (`make run`, the benchmarks).

Each worker, once it has loaded the app, names any missing face weight file and warms the face engine up
(FACE_WARMUP=1), so no model is loaded in the master process and then shared across forks.
"""


def post_worker_init(worker):
    from webapp.faces.runtime import prepare_worker

    app = worker.wsgi
    if hasattr(app, "extensions") and "faces" in app.extensions:
        prepare_worker(app)
