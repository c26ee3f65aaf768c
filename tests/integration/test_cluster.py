"""Scale-out: what `make cluster` starts (two gunicorn app servers, one Celery worker, PostgreSQL, Redis, S3 on
moto's server, the local OpenAI-protocol server) serves one person from either server, with no sticky sessions.

The cluster runs with production settings over HTTPS (see tests/support/cluster.py); the client here is a real HTTP
client with one cookie jar, like a browser behind a load balancer that sends each request to either server.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.support.cluster import Cluster, ClusterOptions, create_staff, running_cluster
from tests.support.databases import drop_database
from tests.support.faces import HTMX, photo_bytes
from tests.support.waiting import wait_for
from tests.support.web import CSRF_META, PASSWORD

pytestmark = pytest.mark.cluster

EMAIL = "casey@example.com"
REPLY_ID = re.compile(r'sse-connect="/chat/messages/(\d+)/stream"')
FILE_ID = re.compile(r'id="file-(\d+)"')
COMPARISON_ID = re.compile(r'id="comparison-(\d+)"')


class Visitor:
    """One person's browser: one cookie jar, and each request sent to whichever server the test names."""

    def __init__(self, certificate: Path) -> None:
        self.session = requests.Session()
        # The cluster's own certificate, verified. Passed with each request: requests lets REQUESTS_CA_BUNDLE
        # from the environment override a session's `verify`.
        self.certificate = str(certificate)

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.session.get(url, timeout=60, verify=self.certificate, **kwargs)

    def post(self, url: str, page: str, **kwargs) -> requests.Response:
        """POST from `page` as a browser does: its CSRF token, and its address as Referer (checked on HTTPS)."""
        html = self.get(page).text
        match = CSRF_META.search(html)
        assert match, f"no CSRF token on {page}"
        headers = {"X-CSRFToken": match.group(1), "Referer": page, **kwargs.pop("headers", {})}
        return self.session.post(
            url, headers=headers, timeout=60, allow_redirects=False, verify=self.certificate, **kwargs
        )


@pytest.fixture(scope="module")
def cluster(postgres_server_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    unique = f"{os.getpid()}_{secrets.token_hex(3)}"
    options = ClusterOptions(
        workdir=tmp_path_factory.mktemp("cluster"),
        server_url=postgres_server_url,
        database=f"workbench_cluster_{unique}",
        redis_url=redis_url,
        face_queue=f"workbench-cluster-test-{unique}",
        workers=1,
        threads=8,
        first_token_delay=0.0,
        token_rate=0.0,
    )
    try:
        with running_cluster(options, fresh_database=True) as running:
            create_staff(running.env, [EMAIL], PASSWORD)
            yield running
    finally:
        drop_database(postgres_server_url, options.database)


@pytest.fixture(scope="module")
def servers(cluster: Cluster) -> tuple[str, str]:
    first, second = cluster.app_urls
    assert first != second
    return first, second


@pytest.fixture(scope="module")
def visitor(cluster: Cluster, servers: tuple[str, str]) -> Iterator[Visitor]:
    """Signed in through the first server."""
    first, _ = servers
    visitor = Visitor(cluster.certificate)
    response = visitor.post(f"{first}/login", f"{first}/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 302, response.text[:500]
    yield visitor
    visitor.session.close()  # idle keep-alive connections would hold gunicorn's graceful stop


def test_signed_in_on_one_server_and_carrying_on_with_the_other(
    cluster: Cluster, servers: tuple[str, str], visitor: Visitor
):
    first, second = servers
    dashboard = visitor.get(f"{second}/", allow_redirects=False)
    assert dashboard.status_code == 200 and "Casey" in dashboard.text

    # A message sent through the second server, its reply streamed by the first: one database, one secret.
    sent = visitor.post(
        f"{second}/chat",
        f"{second}/chat",
        headers=HTMX,
        data={"message": "hello from either server", "model": "openai:cluster-model"},
    )
    assert sent.status_code == 201, sent.text[:500]
    reply_id = REPLY_ID.search(sent.text).group(1)
    stream = visitor.get(f"{first}/chat/messages/{reply_id}/stream", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 200 and "event: done" in stream.text
    assert "hello from either server" in stream.text.split("event: done", 1)[1]


def test_a_file_uploaded_through_one_server_is_served_by_the_other(
    cluster: Cluster, servers: tuple[str, str], visitor: Visitor
):
    first, second = servers
    photo = photo_bytes("biden.jpg")
    uploaded = visitor.post(
        f"{first}/files/upload",
        f"{first}/files/upload",
        headers=HTMX,
        files={"file": ("biden.jpg", photo, "image/jpeg")},
    )
    assert uploaded.status_code == 201, uploaded.text[:500]
    file_id = FILE_ID.search(uploaded.text).group(1)

    download = visitor.get(f"{second}/files/{file_id}/download", allow_redirects=False)
    assert download.status_code == 302
    assert download.headers["Location"].startswith(f"{cluster.s3_endpoint}/")  # a presigned URL of the bucket
    from_bucket = visitor.get(download.headers["Location"])
    assert from_bucket.status_code == 200 and from_bucket.content == photo

    thumbnail = visitor.get(f"{second}/files/{file_id}/thumbnail")  # streamed from S3 through the app
    assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"] == "image/webp"


def test_a_face_compare_queued_by_one_server_is_finished_by_the_worker(
    cluster: Cluster, servers: tuple[str, str], visitor: Visitor
):
    first, second = servers
    queued = visitor.post(
        f"{first}/faces/compare",
        f"{first}/faces/compare",
        headers=HTMX,
        files={
            "photo_a": ("obama.jpg", photo_bytes("obama.jpg"), "image/jpeg"),
            "photo_b": ("obama2.jpg", photo_bytes("obama2.jpg"), "image/jpeg"),
        },
    )
    assert queued.status_code == 202, queued.text[:500]  # queued for the worker, not run in the request
    comparison_id = COMPARISON_ID.search(queued.text).group(1)

    def finished() -> requests.Response | None:
        polled = visitor.get(f"{second}/faces/comparisons/{comparison_id}/result", headers=HTMX)
        return polled if polled.status_code != 202 else None

    result = wait_for(finished, timeout=60, interval=0.5)
    assert result.status_code == 200 and "Same person" in result.text
    engine = create_engine(cluster.database_url)
    with engine.connect() as connection:
        status = connection.execute(
            text("SELECT status FROM face_comparisons WHERE id = :id"), {"id": int(comparison_id)}
        ).scalar_one()
    engine.dispose()
    assert status == "done"
    assert "Task faces.run_comparison[" in cluster.part("worker").log.read_text()
