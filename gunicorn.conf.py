"""gunicorn reads this file from the working directory (`make run`, the benchmarks).

The face engine warms up in each worker after it has loaded the app (FACE_WARMUP=1), so no model is loaded
in the master process and then shared across forks.
"""


def post_worker_init(worker):
    from webapp.faces.runtime import warm_up_app

    app = worker.wsgi
    if hasattr(app, "extensions") and "faces" in app.extensions:
        warm_up_app(app)
