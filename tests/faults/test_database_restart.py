"""PostgreSQL stopped and started again under load: while it is down every request is a clean 503 (JSON under /api/,
a page elsewhere; never a 500 or a stack trace), and once it is back requests succeed without restarting the app.

The database is a private PostgreSQL cluster on a free port (the machine's shared server is never touched).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.apps import inspecting_app, served_settings
from tests.support.factories import make_token, make_user
from tests.support.processes import Browser, postgres_bin, private_postgres, run_gunicorn
from tests.support.waiting import wait_for
from tests.support.web import bearer
from webapp.errors import DATABASE_DOWN_MESSAGE
from webapp.extensions import db


@dataclass
class Answer:
    phase: str  # what the database was doing while the request ran
    path: str
    status: int
    content_type: str
    body: str


class Load(threading.Thread):
    """Sends the dashboard page (signed in) and an API list (bearer token) in turn until stopped."""

    def __init__(self, browser: Browser, token: str) -> None:
        super().__init__(name="load", daemon=True)
        self.browser, self.token = browser, token
        self.phase = "up"
        self.answers: list[Answer] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for path, headers in (("/", {}), ("/api/files", bearer(self.token))):
                phase = self.phase
                response = self.browser.get(path, headers=headers, allow_redirects=False)
                if self.phase != phase:
                    phase = "changing"  # the database changed state while this request ran: either answer is fine
                self.answers.append(
                    Answer(phase, path, response.status_code, response.headers.get("Content-Type", ""), response.text)
                )
            time.sleep(0.05)

    def during(self, phase: str, path: str) -> list[Answer]:
        return [answer for answer in list(self.answers) if answer.phase == phase and answer.path == path]


@pytest.fixture
def postgres_binaries() -> Path:
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip(
            "PostgreSQL server binaries are not installed (/usr/lib/postgresql/N/bin): "
            "apt-get install postgresql to run this test"
        )
    return binaries


def test_postgres_restart_under_load_gives_503_then_recovers_without_restarting_the_app(
    tmp_path: Path, postgres_binaries: Path
):
    with private_postgres(postgres_binaries) as postgres:
        settings = served_settings(tmp_path, postgres.create_database("workbench"), DATABASE_CONNECT_TIMEOUT=2)
        app = inspecting_app(tmp_path, settings)
        account = make_user(app)
        token = make_token(app, account)
        with app.app_context():
            db.engine.dispose()

        with run_gunicorn(tmp_path, settings) as server:
            worker = server.worker_pid()
            load = Load(Browser(server.url).sign_in(account.email, account.password), token)
            load.start()
            try:
                wait_for(lambda: len(load.during("up", "/api/files")) >= 3, timeout=15)
                load.phase = "stopping"  # requests sent while PostgreSQL shuts down may still succeed
                postgres.stop("fast")
                load.phase = "down"
                wait_for(lambda: len(load.during("down", "/api/files")) >= 5, timeout=15)
                load.phase = "starting"  # it may answer before pg_ctl returns
                postgres.start()
                load.phase = "back"
                wait_for(lambda: [answer.status for answer in load.during("back", "/")[-3:]] == [200] * 3, timeout=20)
                wait_for(
                    lambda: [answer.status for answer in load.during("back", "/api/files")[-3:]] == [200] * 3,
                    timeout=20,
                )
            finally:
                load.stopping.set()
                load.join(timeout=15)

            assert all(answer.status == 200 for answer in load.answers if answer.phase == "up")
            assert all(answer.status in (200, 503) for answer in load.answers), server.log_text()
            for answer in load.during("down", "/api/files"):
                assert answer.status == 503 and answer.content_type == "application/json", answer.body
                assert answer.body.strip() == f'{{"error":"{DATABASE_DOWN_MESSAGE}","status":503}}'
            pages = load.during("down", "/")
            assert pages, "no page was requested while the database was down"
            for answer in pages:
                assert answer.status == 503 and answer.content_type.startswith("text/html"), answer.body
                assert DATABASE_DOWN_MESSAGE in answer.body and "Traceback" not in answer.body
            # Still signed in once the database is back, served by the very same worker process.
            assert account.name in load.during("back", "/")[-1].body
            assert server.worker_pid() == worker
            assert "Traceback" not in server.log_text()
