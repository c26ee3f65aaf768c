"""Redis (the Celery broker) stopped while the app sends face jobs to it: a new job is refused at once with a
clear 503, and nothing is left `pending` for ever, not even the job Redis lost; once Redis is back, jobs queue again.

The broker is a private redis-server on a free port (the machine's shared Redis is never touched).
"""

from __future__ import annotations

import html
import shutil
import time
from pathlib import Path

import pytest

from tests.support.apps import inspecting_app
from tests.support.faces import compare, result_id, upload
from tests.support.factories import make_token, make_user
from tests.support.processes import private_redis
from tests.support.waiting import wait_for
from tests.support.web import bearer, login
from webapp.extensions import db
from webapp.faces.models import FaceComparison
from webapp.faces.service import QUEUE_DOWN_MESSAGE

JOB_TIMEOUT = 3


@pytest.fixture
def redis_server() -> str:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server to run this test")
    return executable


def statuses(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(FaceComparison.status).order_by(FaceComparison.id)))


def test_redis_stopped_refuses_face_jobs_with_503_and_leaves_none_pending(tmp_path: Path, redis_server: str):
    with private_redis(redis_server) as redis:
        app = inspecting_app(
            tmp_path,
            {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
                "CELERY_BROKER_URL": redis.url,
                "FACE_QUEUE": "faces-faults",
                "FACE_JOB_TIMEOUT": JOB_TIMEOUT,
            },
        )
        staff = make_user(app)
        token = make_token(app, staff)
        client = app.test_client()
        login(client, staff.email, staff.password)

        queued = compare(client, upload("obama.jpg"), upload("biden.jpg"))
        assert queued.status_code == 202  # in Redis, waiting for a worker (none runs in this test)
        lost_job = result_id(queued.get_data(as_text=True))

        redis.stop()  # the queued job is lost with it (no dump file)
        started = time.monotonic()
        refused = compare(client, upload("obama.jpg"), upload("obama2.jpg"))
        assert time.monotonic() - started < 10
        assert refused.status_code == 503 and QUEUE_DOWN_MESSAGE in html.unescape(refused.get_data(as_text=True))
        api = client.post(
            "/api/face/verify",
            headers=bearer(token),
            content_type="multipart/form-data",
            data={"image1": upload("obama.jpg"), "image2": upload("biden.jpg")},
        )
        assert api.status_code == 503 and api.get_json()["error"] == QUEUE_DOWN_MESSAGE
        assert statuses(app) == ["pending", "failed", "failed"]

        # The lost job is marked failed once it has waited FACE_JOB_TIMEOUT, when its page polls.
        def lost_job_result():
            polled = client.get(f"/faces/comparisons/{lost_job}/result", headers={"HX-Request": "true"})
            return polled if polled.status_code != 202 else None

        outcome = wait_for(lost_job_result, timeout=JOB_TIMEOUT + 10)
        assert outcome.status_code == 503 and "did not finish this job" in outcome.get_data(as_text=True)
        assert statuses(app) == ["failed"] * 3

        redis.start()  # same port: the app reconnects by itself
        again = compare(client, upload("obama.jpg"), upload("obama2.jpg"))
        assert again.status_code == 202
        assert statuses(app) == ["failed"] * 3 + ["pending"]
        with app.app_context():
            db.engine.dispose()
