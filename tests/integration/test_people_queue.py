"""The face index on a Celery worker, through the real Redis (TEST_REDIS_URL), on both databases.

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

from tests.support.faces import group_photo
from tests.support.files import api_upload
from tests.support.waiting import wait_for
from tests.support.web import bearer


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    import redis

    name = f"workbench-people-test-{os.getpid()}-{secrets.token_hex(4)}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(name)
    client.close()


@pytest.fixture
def app_overrides(redis_url: str, queue_name: str) -> dict[str, Any]:
    return {"CELERY_BROKER_URL": redis_url, "FACE_QUEUE": queue_name, "FACE_INDEX_ON_UPLOAD": True}


@pytest.mark.both_databases
def test_an_uploaded_photo_is_indexed_by_the_worker_not_by_the_app(
    app: Flask, client: FlaskClient, staff_token: str, queue_name: str, db_backend: str
):
    from celery.contrib.testing.worker import start_worker

    assert "face_indexer" not in app.extensions  # no thread of the app's own with a broker
    stored = api_upload(client, staff_token, "group.jpg", group_photo())
    assert stored.status_code == 201
    status = client.get("/api/face/index", headers=bearer(staff_token))
    assert status.get_json() == {"indexed": 0, "pending": 1, "failed": 0}  # queued, no worker yet

    with start_worker(
        app.extensions["celery"],
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=[queue_name],
        loglevel="WARNING",
        shutdown_timeout=30,
    ):

        def indexed():
            answer = client.get("/api/face/index", headers=bearer(staff_token)).get_json()
            return answer if answer["indexed"] == 1 else None

        assert wait_for(indexed, timeout=90) == {"indexed": 1, "pending": 0, "failed": 0}
    search = client.post("/api/face/search", json={"file_id": stored.get_json()["id"]}, headers=bearer(staff_token))
    assert search.status_code == 200 and search.get_json()["faces_found"] == 2 and search.get_json()["searched"] == 2
