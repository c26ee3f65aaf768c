"""Security headers and cookies with the production settings: CSP without inline scripts or styles, framing
denied, Referrer-Policy, HSTS, and __Host- cookies (Secure, Path=/, no Domain) for the session and "remember me"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.factories import make_user
from tests.support.files import rows, upload
from tests.support.photos import deepface_home
from tests.support.samples import minimal_pdf
from tests.support.settings import production_environment
from tests.support.web import PASSWORD, login
from webapp import create_app
from webapp.extensions import db

EMAIL = "pat@example.com"


def production_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **environment: str) -> Flask:
    """The production settings as a deployment sets them (a secret, a PostgreSQL URL), on a local SQLite file."""
    for name in ("SESSION_COOKIE_SECURE", "HSTS_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    production_environment(
        monkeypatch, INSTANCE_DIR=str(tmp_path), WORKBENCH_DOTENV=str(tmp_path / "none.env"), **environment
    )
    app = create_app(
        "production",
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'production.db'}",
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_pre_ping": True
            },  # PostgreSQL's connect_timeout means nothing to SQLite
            "DEEPFACE_HOME": deepface_home(),
        },
    )
    with app.app_context():
        db.create_all()
    make_user(app, email=EMAIL, name="Pat Production")
    return app


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    app = production_app(tmp_path, monkeypatch)
    yield app
    with app.app_context():
        db.engine.dispose()


def set_cookie(response, name: str) -> str:
    matches = [cookie for cookie in response.headers.getlist("Set-Cookie") if cookie.startswith(f"{name}=")]
    assert len(matches) == 1, response.headers.getlist("Set-Cookie")
    return matches[0]


def assert_host_only_secure_cookie(cookie: str) -> None:
    attributes = [part.strip() for part in cookie.split(";")[1:]]
    assert "Secure" in attributes and "HttpOnly" in attributes and "Path=/" in attributes
    assert "SameSite=Lax" in attributes
    assert not [attribute for attribute in attributes if attribute.lower().startswith("domain=")]


def test_production_session_cookie_is_host_prefixed_secure_and_host_only(production: Flask):
    response = production.test_client().get("/login")
    assert response.status_code == 200
    assert_host_only_secure_cookie(set_cookie(response, "__Host-session"))


def test_production_remember_me_cookie_is_host_prefixed_and_secure_and_signing_in_works(production: Flask):
    client: FlaskClient = production.test_client()  # https://localhost: production prefers https
    # Over https Flask-WTF also checks the referrer is this site, as a browser sends it.
    client.environ_base["HTTP_REFERER"] = "https://localhost/login"
    response = login(client, EMAIL, PASSWORD, remember=True)
    assert response.status_code == 302
    assert_host_only_secure_cookie(set_cookie(response, "__Host-remember_token"))
    assert_host_only_secure_cookie(set_cookie(response, "__Host-session"))
    # The prefixed session cookie is the one the app reads back: the dashboard opens signed in.
    assert client.get("/").status_code == 200
    # "Remember me" alone brings the session back once the session cookie is gone.
    client.delete_cookie("__Host-session")
    assert client.get("/").status_code == 200
    client.delete_cookie("__Host-session")
    client.delete_cookie("__Host-remember_token")
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("path", ["/login", "/api/health", "/no-such-page", "/static/css/app.css"])
def test_production_headers_on_pages_api_errors_and_static_files(production: Flask, path: str):
    response = production.test_client().get(path)
    policy = dict(
        directive.strip().split(" ", 1) for directive in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'" and policy["base-uri"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_lifetime_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    app = production_app(tmp_path, monkeypatch, HSTS_SECONDS="600")
    assert app.test_client().get("/login").headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"


def test_production_over_plain_http_keeps_unprefixed_cookies_and_sends_no_hsts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """SESSION_COOKIE_SECURE=false (a trial without TLS): a __Host- cookie without Secure would be dropped."""
    app = production_app(tmp_path, monkeypatch, SESSION_COOKIE_SECURE="false")
    response = app.test_client().get("/login")
    cookie = set_cookie(response, "session")
    assert "Secure" not in cookie
    assert "Strict-Transport-Security" not in response.headers


def test_development_sends_no_hsts_and_plain_cookie_names(client: FlaskClient):
    response = client.get("/login")
    assert "Strict-Transport-Security" not in response.headers
    assert set_cookie(response, "session")
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_forbid_plugins_and_only_the_pdf_preview_allows_its_viewer(staff_client: FlaskClient):
    upload(staff_client, ("report.pdf", minimal_pdf()))
    (stored,) = rows(staff_client.application)
    page = staff_client.get(f"/files/{stored.id}")
    preview = staff_client.get(f"/files/{stored.id}/preview")
    assert "object-src 'none'" in page.headers["Content-Security-Policy"]
    assert preview.mimetype == "application/pdf" and "object-src 'self'" in preview.headers["Content-Security-Policy"]
