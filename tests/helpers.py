"""Small helpers the tests share: accounts, CSRF tokens, signing in through the real form."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery staple"
# A PostgreSQL URL for production settings in tests: building the app opens no connection, so it need not exist.
PRODUCTION_DATABASE_URL = "postgresql://workbench@db.invalid:5432/workbench"
# Settings production checks before it starts (config.ProductionConfig.validate), cleared by production_environment.
PRODUCTION_CHECKED = (
    "WORKBENCH_SERVERS",
    "STORAGE_BACKEND",
    "S3_BUCKET_NAME",
    "RATELIMIT_STORAGE_URI",
    "ALLOW_SQLITE_IN_PRODUCTION",
    "WEB_CONCURRENCY",
)
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    role: str
    password: str


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Flask
    admin: Account


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    """The CSRF token a browser would find on `page` (every page carries it in a meta tag)."""
    html = client.get(page, follow_redirects=True).get_data(as_text=True)
    match = CSRF_META.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def post_form(
    client: FlaskClient, url: str, data: dict[str, Any] | None = None, page: str = "/login", **kwargs: Any
) -> TestResponse:
    """POST a form the way a browser does: with the CSRF token from a page of the same session."""
    form = {"csrf_token": csrf_token(client, page), **(data or {})}
    return client.post(url, data=form, **kwargs)


def login(
    client: FlaskClient, email: str, password: str, remember: bool = False, next_url: str | None = None
) -> TestResponse:
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    url = "/login" + (f"?next={next_url}" if next_url else "")
    response = post_form(client, url, data)
    return response


def production_environment(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """An environment production accepts (random SECRET_KEY, PostgreSQL, one server), with `env` on top."""
    for name in PRODUCTION_CHECKED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    monkeypatch.setenv("DATABASE_URL", PRODUCTION_DATABASE_URL)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def s3_settings(endpoint: str, **overrides: object) -> dict[str, object]:
    """Settings for the S3 backend on moto's server: a fresh bucket each time (moto keeps state)."""
    settings: dict[str, object] = {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET_NAME": f"workbench-{uuid.uuid4().hex[:12]}",
        "AWS_REGION": "eu-west-1",
        "S3_ENDPOINT_URL": endpoint,
        "S3_MULTIPART_THRESHOLD_MB": 5,
        "S3_CONNECT_TIMEOUT": 2,
        "S3_READ_TIMEOUT": 10,
        "S3_MAX_ATTEMPTS": 1,
    }
    settings.update(overrides)
    return settings
