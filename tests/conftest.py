"""Test harness: an app and a fresh database per test, signed-in clients per role, and a live server for Chromium.

Tests marked `both_databases` run once on SQLite and once on PostgreSQL (`TEST_DATABASE_URL`; skipped with a
reason when it is unset). Everything else runs on a SQLite file in the test's own temporary folder.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from config import normalize_database_url
from tests.support.apps import build_app
from tests.support.databases import create_database, drop_database
from tests.support.factories import make_token, make_user
from tests.support.web import Account, LiveServer, login
from webapp.extensions import db

# Fixtures of one feature, shared by its test modules: the fake model services of chat.
pytest_plugins = ["tests.support.chat"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set: PostgreSQL tests need a server (.ci/run sets it)")
    return normalize_database_url(url)


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A database of this test run's own, so parallel runs on one server never meet; dropped at the end."""
    name = f"workbench_test_{os.getpid()}_{secrets.token_hex(3)}"
    yield create_database(postgres_server_url, name)
    drop_database(postgres_server_url, name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL is not set: the Celery and cluster tests need a Redis server (.ci/run sets it)")
    return url


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if db_backend == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / 'workbench.db'}"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Settings a test module wants on top of the testing config (override this fixture in the module)."""
    return {}


@pytest.fixture
def app(tmp_path: Path, database_url: str, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    app = build_app(tmp_path, database_url, app_overrides)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin(app: Flask) -> Account:
    return make_user(app, "admin", email="ada@example.com", name="Ada Admin")


@pytest.fixture
def staff(app: Flask) -> Account:
    return make_user(app, email="sam@example.com", name="Sam Staff")


@pytest.fixture
def other_staff(app: Flask) -> Account:
    return make_user(app, email="olga@example.com", name="Olga Other")


@pytest.fixture
def admin_client(app: Flask, admin: Account) -> FlaskClient:
    client = app.test_client()
    login(client, admin.email, admin.password)
    return client


@pytest.fixture
def staff_client(app: Flask, staff: Account) -> FlaskClient:
    client = app.test_client()
    login(client, staff.email, staff.password)
    return client


@pytest.fixture
def other_client(app: Flask, other_staff: Account) -> FlaskClient:
    client = app.test_client()
    login(client, other_staff.email, other_staff.password)
    return client


@pytest.fixture
def staff_token(app: Flask, staff: Account) -> str:
    return make_token(app, staff)


@pytest.fixture
def other_token(app: Flask, other_staff: Account) -> str:
    return make_token(app, other_staff, "other")


# --- S3: moto's real HTTP server on a free loopback port, one per test session -----------------------


@pytest.fixture(scope="session")
def aws_environment() -> Iterator[None]:
    """Dummy credentials only, and no lookups beyond loopback (the instance-metadata address above all)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AWS_"):
                patch.delenv(name)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        yield


@pytest.fixture(scope="session")
def moto_endpoint(aws_environment: None) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    # port=0 lets the OS choose; get_host_and_port() reads back the port actually bound.
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


# --- a real server and a real browser ------------------------------------------------------------


@pytest.fixture
def live_server(tmp_path: Path, app_overrides: dict[str, Any]) -> Iterator[LiveServer]:
    """The app served by a threaded WSGI server on a free 127.0.0.1 port, with an admin account."""
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'live.db'}", app_overrides)
    with app.app_context():
        db.create_all()
    admin_account = make_user(app, "admin", email="root@example.com", name="Rita Root")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, admin=admin_account)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium: Playwright's own browser download cannot work on a machine without internet."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing at /usr/bin/chromium: `make test` installs it.")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_FLAGS, "headless": True}
