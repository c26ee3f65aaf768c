"""Errors as HTML pages for browsers and JSON for the API; request ids; security headers."""

import logging

import pytest
from flask import request

from tests.support.web import bearer


@pytest.fixture
def app_with_faulty_routes(app):
    def explode():
        raise RuntimeError("secret internal detail")

    def echo():
        return {"size": len(request.get_data())}

    app.add_url_rule("/explode", "explode", explode)
    app.add_url_rule("/api/explode", "api_explode", explode)
    app.add_url_rule("/api/echo", "api_echo", echo, methods=["POST"])
    return app


def test_404_is_an_html_page(staff_client):
    response = staff_client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Not found" in html and "<nav" in html


def test_404_under_the_api_is_json(client, staff_token):
    response = client.get("/api/no/such/thing", headers=bearer(staff_token))
    assert response.status_code == 404
    assert response.get_json() == {"error": response.get_json()["error"], "status": 404}


def test_405_is_an_html_page(staff_client):
    response = staff_client.delete("/account")
    assert response.status_code == 405
    assert "Method not allowed" in response.get_data(as_text=True)
    assert "GET" in response.headers["Allow"]


def test_405_under_the_api_is_json(client):
    response = client.post("/api/health")
    assert response.status_code == 405 and response.get_json()["status"] == 405


def test_500_page_shows_the_request_id_and_no_traceback(app_with_faulty_routes, caplog):
    client = app_with_faulty_routes.test_client()
    with caplog.at_level(logging.ERROR, logger="webapp"):
        response = client.get("/explode", headers={"X-Request-ID": "req-12345"})
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "req-12345" in html
    assert "Traceback" not in html and "secret internal detail" not in html and "RuntimeError" not in html
    logged = [record for record in caplog.records if record.name == "webapp.errors"]
    assert logged and logged[0].request_id == "req-12345" and logged[0].exc_info is not None


def test_500_under_the_api_is_json(app_with_faulty_routes, staff_token):
    response = app_with_faulty_routes.test_client().get("/api/explode")
    assert response.status_code == 500
    body = response.get_json()
    assert body["status"] == 500 and "secret" not in body["error"]


def test_413_is_a_page_for_browsers_and_json_for_the_api(app_with_faulty_routes, staff_client):
    app = app_with_faulty_routes
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = staff_client.post("/account", data={"name": "x" * 5000})
    assert response.status_code == 413 and "Too large" in response.get_data(as_text=True)
    response = app.test_client().post("/api/echo", data="x" * 5000)
    assert response.status_code == 413
    assert response.get_json()["status"] == 413


def test_htmx_requests_get_a_fragment_not_a_page(staff_client):
    response = staff_client.get("/no/such/page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "<html" not in html


def test_htmx_request_without_a_session_is_told_to_navigate_to_sign_in(client):
    response = client.get("/account", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_an_incoming_request_id_is_echoed_and_a_missing_one_is_made(client):
    assert client.get("/login", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/login").headers["X-Request-ID"]
    assert len(made) == 32
    unsafe = client.get("/login", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert unsafe != "bad id <script>" and len(unsafe) == 32


def test_one_log_line_per_request_with_method_path_status_duration_user_and_id(staff_client, staff, caplog):
    with caplog.at_level(logging.INFO, logger="webapp.request"):
        staff_client.get("/account", headers={"X-Request-ID": "line-test"})
    lines = [record.getMessage() for record in caplog.records if record.name == "webapp.request"]
    assert len(lines) == 1
    method, path, status, duration, user, request_id = lines[0].split()
    assert (method, path, status) == ("GET", "/account", "200")
    assert duration.endswith("ms") and float(duration[:-2]) >= 0
    assert user == f"user={staff.id}" and request_id == "request_id=line-test"


@pytest.fixture
def answered(app) -> list[bool]:
    """A route that commits (expiring the signed-in user), then answers; the list says when it has answered."""
    from flask_login import current_user

    from webapp.extensions import db

    done: list[bool] = []

    def commit_then_answer():
        assert current_user.is_authenticated  # loads the signed-in user
        db.session.commit()
        done.append(True)
        return "ok"

    app.add_url_rule("/commit-then-answer", "commit_then_answer", commit_then_answer)
    return done


def test_the_log_line_names_the_user_without_querying_after_a_commit(app, answered, staff_client, staff, caplog):
    """Reading the expired user's id again for the log line would query the database, and fail a finished
    request if the database had just gone away."""
    from sqlalchemy import event

    from webapp.extensions import db

    queries_after_the_view = []

    def record(*args):
        if answered:
            queries_after_the_view.append(args[2])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with caplog.at_level(logging.INFO, logger="webapp.request"):
            assert staff_client.get("/commit-then-answer").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert queries_after_the_view == []
    assert "/commit-then-answer 200" in caplog.text and f"user={staff.id}" in caplog.text


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_load_only_the_apps_own_scripts_and_styles(staff_client):
    html = staff_client.get("/").get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html
    assert "http://" not in html and "https://" not in html
    for asset in [
        "/static/js/htmx-2.0.11.min.js",
        "/static/css/pico-2.1.1.min.css",
        "/static/js/app.js",
        "/static/css/app.css",
    ]:
        assert asset in html
        assert staff_client.get(asset).status_code == 200


def test_an_unreachable_database_is_a_503_page_or_json_not_a_500(tmp_path, caplog):
    """The server stopped, refused or unreachable: 503 with a message and Retry-After (tests/faults restarts a real
    PostgreSQL under load)."""
    from tests.support.apps import build_app
    from tests.support.web import login
    from webapp.errors import DATABASE_DOWN_MESSAGE

    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'no-such-folder' / 'app.db'}")
    client = app.test_client()

    api = client.get("/api/files", headers=bearer("wb_anything"))
    assert api.status_code == 503 and api.get_json() == {"error": DATABASE_DOWN_MESSAGE, "status": 503}
    assert api.headers["Retry-After"] == "10"
    page = login(client, "sam@example.com", "whatever password")
    html = page.get_data(as_text=True)
    assert page.status_code == 503 and DATABASE_DOWN_MESSAGE in html and "Sign out" not in html
    assert "unhandled error" not in caplog.text


def test_a_broken_query_is_still_a_500(app_with_faulty_routes, staff_token):
    from sqlalchemy import text

    from webapp.extensions import db

    def bad_query():
        db.session.execute(text("SELECT * FROM no_such_table"))

    app_with_faulty_routes.add_url_rule("/api/bad-query", "bad_query", bad_query)
    response = app_with_faulty_routes.test_client().get("/api/bad-query", headers=bearer(staff_token))
    assert response.status_code == 500


def test_a_connection_the_server_drops_after_the_last_query_does_not_fail_the_request(tmp_path, postgres_url):
    """PostgreSQL restarting between a request's last query and its end: the answer stands, the next one works."""
    from sqlalchemy import create_engine, text

    from tests.support.apps import build_app
    from webapp.extensions import db

    app = build_app(tmp_path, postgres_url)
    killer = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    def answer_then_lose_the_connection():
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))  # the session's transaction stays open
        with killer.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return {"answered": True}

    app.add_url_rule("/api/lose-connection", "lose_connection", answer_then_lose_the_connection)
    app.add_url_rule("/api/select-one", "select_one", lambda: {"one": db.session.scalar(text("SELECT 1"))})
    client = app.test_client()

    response = client.get("/api/lose-connection")
    assert response.status_code == 200 and response.get_json() == {"answered": True}
    assert client.get("/api/select-one").get_json() == {"one": 1}
    killer.dispose()
    with app.app_context():
        db.engine.dispose()
