"""The app under scan: a throwaway instance with production settings, served over HTTPS on a free port.

It has its own database (a temporary SQLite file, or a private database on a PostgreSQL server), upload
folder and fake OpenAI-compatible model service (tests/support/servers), and four accounts: the staff member
and the admin the two wapiti runs sign in as, a staff member whose API token sqlmap uses, and a bystander whose
account the admin's run may change (role, password, deactivation) without ending anyone's scan. Every request it
answers is recorded (scanner, status, signed in or not) and every unhandled exception kept with its traceback:
the scan's own evidence, besides the reports.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from flask import Flask, Response, g, has_request_context, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, generate_adhoc_ssl_context, make_server

from config import normalize_database_url
from tests.support.databases import create_database, drop_database
from tests.support.servers.openai_server import OpenAIServer
from webapp import create_app
from webapp.extensions import db

SCANNER_EMAIL = "scanner@example.com"
ADMIN_SCANNER_EMAIL = "admin-scanner@example.com"
API_EMAIL = "api-scanner@example.com"
BYSTANDER_EMAIL = "bystander@example.com"
MODELS = "gpt-4o-mini,gpt-4o"


@dataclass(frozen=True)
class Served:
    """One request the app answered during the scan."""

    method: str
    url: str  # path and query string
    status: int
    user_agent: str
    signed_in: bool
    location: str


@dataclass
class RequestLog:
    served: list[Served] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (request line, traceback)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_agent(self, agent: str) -> list[Served]:
        with self.lock:
            return [entry for entry in self.served if entry.user_agent == agent]


@contextmanager
def scan_database(workdir: Path, server_url: str | None) -> Iterator[str]:
    """A database of the scan's own: on `server_url` (PostgreSQL) if given, dropped afterwards; else SQLite."""
    if not server_url:
        yield f"sqlite:///{workdir / 'scan.db'}"
        return
    server = normalize_database_url(server_url)
    name = f"workbench_scan_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        yield create_database(server, name)
    finally:
        drop_database(server, name)


def build_app(workdir: Path, database_url: str, model_server: OpenAIServer) -> Flask:
    """Production settings, as `make run` would have them behind TLS, on throwaway storage."""
    # The settings classes read the environment when built: these variables for that moment only.
    with mock.patch.dict(
        os.environ,
        {
            "SECRET_KEY": secrets.token_hex(32),
            "DATABASE_URL": database_url,
            "INSTANCE_DIR": str(workdir),
            "UPLOAD_DIR": str(workdir / "uploads"),
            "UPLOAD_TEMP_DIR": str(workdir / "upload-tmp"),
            "STORAGE_BACKEND": "local",
            "WORKBENCH_DOTENV": os.devnull,
            # Without TEST_DATABASE_URL the scan runs on a SQLite file: one server, said out loud.
            "ALLOW_SQLITE_IN_PRODUCTION": "1",
            # One process serves it (werkzeug's threads), so the sign-in throttle may count in memory.
            "WEB_CONCURRENCY": "1",
        },
    ):
        app = create_app(
            "production",
            {
                "OPENAI_API_KEY": "scan-key",
                "OPENAI_BASE_URL": model_server.base_url,
                "OPENAI_MODELS": MODELS,
                "BEDROCK_MODELS": "",
                "CHAT_MAX_RETRIES": 0,
                "CELERY_BROKER_URL": "",
                "DEEPFACE_HOME": Path(os.environ.get("DEEPFACE_HOME") or workdir / "deepface"),
                "LOG_LEVEL": "WARNING",
            },
        )
    with app.app_context():
        db.create_all()
    return app


def record_requests(app: Flask, log: RequestLog) -> None:
    """Keep a line per answered request and the traceback of every unexpected error."""

    @app.after_request
    def remember(response: Response) -> Response:
        user = g.get("_login_user") or g.get("api_user")
        entry = Served(
            method=request.method,
            url=request.full_path.rstrip("?"),
            status=response.status_code,
            user_agent=request.headers.get("User-Agent", ""),
            signed_in=bool(getattr(user, "is_authenticated", False)),
            location=response.headers.get("Location", ""),
        )
        with log.lock:
            log.served.append(entry)
        return response

    # The app's handler of unexpected errors logs each one with its traceback on "webapp.errors": keep them
    # for the report (tracebacks.txt) instead of printing them among the scanners' output.
    errors = logging.getLogger("webapp.errors")
    errors.addHandler(TracebackKeeper(log))
    errors.propagate = False


class TracebackKeeper(logging.Handler):
    def __init__(self, log: RequestLog) -> None:
        super().__init__(logging.ERROR)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        trace = "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else record.getMessage()
        line = f"{request.method} {request.full_path.rstrip('?')}" if has_request_context() else "-"
        with self.log.lock:
            self.log.errors.append((line, trace))


class KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1, so the scanners reuse connections instead of a TLS handshake per request (as behind a proxy)."""

    protocol_version = "HTTP/1.1"


@contextmanager
def https_server(app: Flask) -> Iterator[str]:
    """The app on a free 127.0.0.1 port over TLS (a self-signed certificate), in threads of this process."""
    # The request log above keeps what matters; werkzeug's line per request would bury the scan's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    context = generate_adhoc_ssl_context()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=KeepAliveHandler)
    # werkzeug would complete each TLS handshake in its accepting thread, where one slow client stalls all the
    # others; deferred, the handshake happens in the thread that serves the connection.
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.ssl_context = context  # requests then carry wsgi.url_scheme "https"
    thread = threading.Thread(target=server.serve_forever, name="scan-target", daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
