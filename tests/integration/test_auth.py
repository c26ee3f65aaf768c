"""Sign-in, sign-out, sessions, CSRF and throttling through the real forms."""

import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support.settings import production_environment
from tests.support.web import PASSWORD, csrf_token, login, post_form
from webapp.audit.models import AuditEvent
from webapp.auth import service as users
from webapp.extensions import db


def signed_in(client) -> bool:
    response = client.get("/")
    return response.status_code == 200


def test_login_page_has_labelled_fields(client):
    html = client.get("/login").get_data(as_text=True)
    for field, label in [("email", "Email"), ("password", "Password"), ("remember", "Keep me signed in")]:
        assert f'for="{field}"' in html and label in html
    assert 'name="csrf_token"' in html


@pytest.mark.both_databases
def test_right_password_starts_a_session_and_records_the_time(app, client, staff):
    response = login(client, staff.email, staff.password)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(client)
    with app.app_context():
        user = users.get_user(staff.id)
        assert user.last_login_at is not None
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login")).user_id == staff.id


def test_email_is_case_insensitive(client, staff):
    assert login(client, "  SAM@Example.COM ", staff.password).status_code == 302


def test_wrong_password_shows_a_message_and_no_session(app, client, staff):
    response = login(client, staff.email, "not the password")
    assert response.status_code == 200
    assert "The email or password is not right" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    with app.app_context():
        failure = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
        assert failure is not None and failure.user_id == staff.id


def test_unknown_email_is_refused_the_same_way_and_audited(app, client):
    response = login(client, "nobody@example.com", "whatever password")
    assert "The email or password is not right" in response.get_data(as_text=True)
    with app.app_context():
        failure = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
        assert failure.user_id is None and "nobody@example.com" in failure.detail


def test_inactive_user_is_refused(app, client, staff, admin):
    with app.app_context():
        users.set_active(users.get_user(staff.id), False, actor=users.get_user(admin.id))
    response = login(client, staff.email, staff.password)
    assert response.status_code == 200
    assert "deactivated" in response.get_data(as_text=True)
    assert not signed_in(client)


def test_missing_csrf_token_gives_400_saying_the_form_expired(client, staff):
    client.get("/login")
    response = client.post("/login", data={"email": staff.email, "password": staff.password})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "This form has expired" in html and "<html" in html
    assert not signed_in(client)


def test_forged_csrf_token_gives_400(client, staff):
    client.get("/login")
    response = client.post("/login", data={"email": staff.email, "password": staff.password, "csrf_token": "forged"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_sign_in_starts_a_new_session(client, staff):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    login(client, staff.email, staff.password)
    with client.session_transaction() as session:
        assert "planted" not in session


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_off_site_next_is_ignored(client, staff, target):
    response = login(client, staff.email, staff.password, next_url=target)
    assert response.headers["Location"] == "/"


def test_next_within_the_site_is_followed(client, staff):
    response = client.get("/account")
    assert response.status_code == 302 and "/login?next=/account" in response.headers["Location"]
    response = login(client, staff.email, staff.password, next_url="/account")
    assert response.headers["Location"] == "/account"


def test_logout_is_post_only(staff_client):
    response = staff_client.get("/logout")
    assert response.status_code == 405
    assert "<html" in response.get_data(as_text=True)
    assert signed_in(staff_client)


def test_logout_ends_this_and_the_users_other_sessions(app, staff):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, staff.email, staff.password)
    login(phone, staff.email, staff.password)
    assert signed_in(laptop) and signed_in(phone)
    response = post_form(laptop, "/logout", page="/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not signed_in(laptop)
    assert not signed_in(phone)


def test_password_change_keeps_this_session_and_ends_the_others(app, staff):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, staff.email, staff.password)
    login(phone, staff.email, staff.password, remember=True)
    response = post_form(
        laptop,
        "/account/password",
        {
            "current_password": staff.password,
            "new_password": "a brand new password",
            "confirm_password": "a brand new password",
        },
        page="/account",
    )
    assert response.status_code == 302
    assert signed_in(laptop)
    assert not signed_in(phone), "the other session (even with its remember cookie) must end"
    fresh = app.test_client()
    assert login(fresh, staff.email, "a brand new password").status_code == 302


def test_password_change_with_a_wrong_current_password_shows_the_error_beside_the_field(app, staff_client, staff):
    response = post_form(
        staff_client,
        "/account/password",
        {
            "current_password": "wrong",
            "new_password": "a brand new password",
            "confirm_password": "a brand new password",
        },
        page="/account",
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="current_password-error"' in html and "current password is not right" in html
    assert login(app.test_client(), staff.email, PASSWORD).status_code == 302


def test_too_short_new_password_is_refused(staff_client):
    response = post_form(
        staff_client,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "short",
            "confirm_password": "short",
        },
        page="/account",
    )
    assert response.status_code == 400
    assert "at least 10 characters" in response.get_data(as_text=True)


def test_account_name_can_be_changed(app, staff_client, staff):
    response = post_form(staff_client, "/account", {"name": "Samantha"}, page="/account")
    assert response.status_code == 302
    with app.app_context():
        assert users.get_user(staff.id).name == "Samantha"


def test_failed_sign_ins_are_throttled_per_address(client, staff):
    token = csrf_token(client)
    statuses = [
        client.post("/login", data={"email": f"guess{i}@example.com", "password": "x", "csrf_token": token}).status_code
        for i in range(11)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    response = client.post("/login", data={"email": staff.email, "password": staff.password, "csrf_token": token})
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


@pytest.mark.parametrize("app_overrides", [{"LOGIN_EMAIL_FAILURE_LIMIT": "12 per hour"}])
def test_failed_sign_ins_are_throttled_per_email_across_many_addresses(app, staff):
    for attempt in range(12):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{attempt + 1}"
        assert login(client, staff.email, "wrong").status_code == 200
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.0.1.1"
    assert login(client, staff.email, staff.password).status_code == 429
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.1.2"
    assert login(other, "someone.else@example.com", "wrong").status_code == 200


def test_failures_from_one_address_do_not_lock_the_account_out_elsewhere(app, staff):
    """Ten wrong passwords for a colleague's email (spelt differently) lock out the address they came from,
    not the colleague: locking someone out takes LOGIN_EMAIL_FAILURE_LIMIT failures from many addresses."""
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "10.0.0.66"
    for _ in range(10):
        assert login(attacker, f"  {staff.email.upper()} ", "wrong").status_code == 200
    assert login(attacker, staff.email, staff.password).status_code == 429
    victim = app.test_client()
    victim.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert login(victim, staff.email, staff.password).status_code == 302


def change_password(client, current: str):
    new = "a brand new password"
    data = {"current_password": current, "new_password": new, "confirm_password": new}
    return post_form(client, "/account/password", data, page="/account")


def test_guesses_of_the_current_password_are_throttled(staff_client):
    statuses = [change_password(staff_client, f"guess {attempt}").status_code for attempt in range(12)]
    assert statuses == [400] * 10 + [429] * 2
    assert change_password(staff_client, PASSWORD).status_code == 429


def test_password_guesses_on_the_account_page_and_at_sign_in_share_one_count(app, staff_client, staff):
    for attempt in range(5):
        assert change_password(staff_client, f"guess {attempt}").status_code == 400
    for _ in range(5):
        assert login(app.test_client(), staff.email, "wrong").status_code == 200
    assert login(app.test_client(), staff.email, staff.password).status_code == 429
    assert change_password(staff_client, PASSWORD).status_code == 429


def test_successful_sign_ins_do_not_count_toward_the_limit(app, staff):
    client = app.test_client()
    for _ in range(12):
        assert login(client, staff.email, staff.password).status_code == 302
        post_form(client, "/logout", page="/")


def test_session_cookie_is_httponly_and_lax(client, staff):
    response = login(client, staff.email, staff.password, remember=True)
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("session="))
    remember_cookie = next(c for c in cookies if c.startswith("remember_token="))
    for cookie in (session_cookie, remember_cookie):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # development and tests run on plain http


def test_production_cookies_are_secure(tmp_path, monkeypatch):
    from webapp import create_app

    production_environment(monkeypatch)
    app = create_app("production", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize("app_overrides", [{"PASSWORD_HASH_METHOD": "scrypt:16384:8:1"}])
def test_an_unknown_email_costs_the_same_time_as_a_wrong_password(app, staff):
    """Timing must not tell which emails have an account: both paths check one password hash. The cost is
    raised to where hashing dominates the request (as in production), medians of a few tries each."""

    def median_seconds(email: str) -> float:
        times = []
        for _ in range(7):
            started = time.perf_counter()
            assert users.authenticate(email, "not the password") is None
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    with app.app_context():
        users.authenticate("warm-up@example.com", "x")
        known, unknown = median_seconds(staff.email), median_seconds("nobody@example.com")
    slower, faster = max(known, unknown), min(known, unknown)
    assert slower <= faster * 1.5, f"wrong password {known * 1000:.0f} ms, unknown email {unknown * 1000:.0f} ms"


def remember_value(client) -> str:
    cookie = client.get_cookie("remember_token")
    assert cookie is not None, "no remember cookie"
    return cookie.value


def replayed(app, value: str):
    """A client that has only this remember cookie, sent again whatever its Expires said (a copied value)."""
    client = app.test_client()
    client.set_cookie("remember_token", value)
    return client


def test_each_sign_in_issues_a_new_remember_value(app, staff):
    values = set()
    for _ in range(2):
        client = app.test_client()
        login(client, staff.email, staff.password, remember=True)
        values.add(remember_value(client))
    assert len(values) == 2


@pytest.mark.parametrize("app_overrides", [{"REMEMBER_COOKIE_DURATION": timedelta(seconds=2)}])
def test_the_server_refuses_a_remember_cookie_older_than_remember_days(app, staff):
    laptop = app.test_client()
    login(laptop, staff.email, staff.password, remember=True)
    value = remember_value(laptop)
    assert signed_in(replayed(app, value)), "a fresh remember cookie signs in"
    time.sleep(2.5)
    assert not signed_in(replayed(app, value)), "the same value after REMEMBER_DAYS must not"
    assert not signed_in(laptop), "nor the session it started"
