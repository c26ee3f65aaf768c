"""Face jobs through Celery and the real Redis (TEST_REDIS_URL), with a real worker in a thread.

Each test gets a queue name of its own, so parallel runs on one Redis never take each other's jobs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.faces import compare, result_id, upload
from tests.support.waiting import wait_for
from tests.support.web import bearer


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    import redis

    name = f"workbench-faces-test-{os.getpid()}-{secrets.token_hex(4)}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name)  # jobs no worker took (the timeout test leaves one)
    client.close()


@pytest.fixture
def app_overrides(redis_url: str, queue_name: str) -> dict[str, Any]:
    return {"CELERY_BROKER_URL": redis_url, "FACE_QUEUE": queue_name, "FACE_JOB_TIMEOUT": 120}


@pytest.fixture
def worker(app: Flask, queue_name: str) -> Iterator[None]:
    from celery.contrib.testing.worker import start_worker

    celery = app.extensions["celery"]
    with start_worker(
        celery,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=[queue_name],
        loglevel="WARNING",
        shutdown_timeout=30,
    ):
        yield


def test_compare_runs_on_the_worker_and_the_page_polls_until_done(app: Flask, staff_client: FlaskClient, worker: None):
    response = compare(staff_client, upload("obama.jpg"), upload("obama2.jpg"))
    html = response.get_data(as_text=True)
    assert response.status_code == 202, html
    assert 'hx-trigger="every 2s"' in html and ("Waiting for the face worker" in html or "Comparing faces" in html)
    row_id = result_id(html)

    def finished():
        polled = staff_client.get(f"/faces/comparisons/{row_id}/result", headers={"HX-Request": "true"})
        return polled if polled.status_code != 202 else None

    done = wait_for(finished, timeout=90)
    page = done.get_data(as_text=True)
    assert done.status_code == 200, page
    assert "Same person" in page and "every 2s" not in page


def test_api_jobs_answer_202_then_the_result(app: Flask, staff_token: str, worker: None):
    client = app.test_client()
    response = client.post(
        "/api/face/analyze",
        headers=bearer(staff_token),
        content_type="multipart/form-data",
        data={"image": upload("obama.jpg")},
    )
    assert response.status_code == 202 and response.get_json()["status"] in ("pending", "running")
    location = response.headers["Location"]

    def finished():
        polled = client.get(location, headers=bearer(staff_token))
        return polled if polled.status_code != 202 else None

    done = wait_for(finished, timeout=90)
    body = done.get_json()
    assert done.status_code == 200 and body["status"] == "done"
    assert len(body["faces"]) == 1 and body["faces"][0]["gender"] == "male"


def test_a_job_no_worker_takes_is_marked_failed_after_the_timeout(app: Flask, staff_client: FlaskClient):
    app.config["FACE_JOB_TIMEOUT"] = 1
    response = compare(staff_client, upload("obama.jpg"), upload("biden.jpg"))
    assert response.status_code == 202
    row_id = result_id(response.get_data(as_text=True))

    def failed():
        polled = staff_client.get(f"/faces/comparisons/{row_id}/result", headers={"HX-Request": "true"})
        return polled if polled.status_code != 202 else None

    outcome = wait_for(failed, timeout=10)
    assert outcome.status_code == 503
    assert "did not finish this job within 1 seconds" in outcome.get_data(as_text=True)
    history = staff_client.get("/faces/history?verdict=failed").get_data(as_text=True)
    assert history.count('class="history-row"') == 1


def test_an_unreachable_broker_fails_the_job_with_503(tmp_path, staff: Any, database_url: str):
    from tests.support.apps import build_app
    from tests.support.web import login
    from webapp.extensions import db

    app = build_app(
        tmp_path,
        database_url,
        {
            "CELERY_BROKER_URL": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
            "CELERY_OPTIONS": {
                "broker_connection_timeout": 1,
                "task_publish_retry": False,
                "broker_connection_max_retries": 0,
            },
        },
    )
    client = app.test_client()
    login(client, staff.email, staff.password)
    response = compare(client, upload("obama.jpg"), upload("biden.jpg"))
    assert response.status_code == 503
    assert "queue cannot be reached" in response.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


def test_the_worker_command_runs_jobs_in_its_own_process(
    app: Flask, staff_client: FlaskClient, redis_url: str, queue_name: str, tmp_path
):
    """What `make worker` runs: `celery --app webapp.faces.worker:celery worker`, warmed up after the fork."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "WORKBENCH_ENV": "development",
        "WORKBENCH_DOTENV": str(tmp_path / "no.env"),
        "INSTANCE_DIR": str(tmp_path / "worker-instance"),
        "SECRET_KEY": app.config["SECRET_KEY"],
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "UPLOAD_DIR": str(app.config["UPLOAD_DIR"]),
        "DEEPFACE_HOME": str(app.config["DEEPFACE_HOME"]),
        "CELERY_BROKER_URL": redis_url,
        "FACE_QUEUE": queue_name,
        "FACE_WARMUP": "1",
    }
    celery = Path(sys.executable).parent / "celery"
    log = tmp_path / "worker.log"
    with open(log, "wb") as output:
        worker = subprocess.Popen(
            [
                str(celery),
                "--app",
                "webapp.faces.worker:celery",
                "worker",
                "--concurrency",
                "1",
                "--queues",
                queue_name,
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        response = compare(staff_client, upload("obama.jpg"), upload("biden.jpg"))
        assert response.status_code == 202
        row_id = result_id(response.get_data(as_text=True))

        def finished():
            assert worker.poll() is None, log.read_text()
            polled = staff_client.get(f"/faces/comparisons/{row_id}/result", headers={"HX-Request": "true"})
            return polled if polled.status_code != 202 else None

        done = wait_for(finished, timeout=120)
        assert done.status_code == 200, done.get_data(as_text=True)
        assert "Different people" in done.get_data(as_text=True)
        assert "engine warmed up" in log.read_text()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
