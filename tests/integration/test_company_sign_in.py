"""Company sign-in with OpenID Connect, against a real local provider (tests/support/servers/oidc_server.py):
discovery, authorize, token, JWKS and userinfo over HTTP, ID tokens signed with RS256. The first sign-in creates
the user, the admin role follows the group claim, a deactivated user stays out; PASSWORD_LOGIN=off leaves the
company account as the only way in."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from config import ConfigError
from tests.support.servers.oidc_server import OIDCProvider
from tests.support.web import PASSWORD, login, post_form
from webapp import create_app
from webapp.audit.models import AuditEvent
from webapp.auth import service as users
from webapp.auth.models import User
from webapp.extensions import db
from webapp.governance.models import Group

KIM = {"sub": "kim-0001", "email": "Kim@Example.com", "name": "Kim Kowalski", "email_verified": True}


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCProvider]:
    with OIDCProvider(client_id="workbench", client_secret="provider-secret") as server:
        yield server


@pytest.fixture
def app_overrides(provider: OIDCProvider):
    provider.deny = provider.forge = provider.groups_in_id_token = False
    return provider.settings(OIDC_ADMIN_GROUP="workbench-admins", OIDC_SCOPES="openid email profile groups")


def company_sign_in(client, provider: OIDCProvider, identity: dict, next_url: str | None = None):
    """What a browser does: to the provider (which signs `identity` in), and back to the callback with the code."""
    provider.identity = identity
    start = client.get("/login/company" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302 and start.headers["Location"].startswith(f"{provider.issuer}/authorize?")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/login/company/callback"
    return client.get(f"{callback.path}?{callback.query}")


def signed_in_as(client) -> str | None:
    page = client.get("/account")
    if page.status_code != 200:
        return None
    html = page.get_data(as_text=True)
    return html.split("Signed in as <strong>")[1].split("</strong>")[0]


@pytest.mark.both_databases
def test_the_first_company_sign_in_creates_the_user_and_signs_them_in(app, client, provider, db_backend):
    response = company_sign_in(client, provider, KIM | {"groups": ["sales"]}, next_url="/history")
    assert response.status_code == 302 and response.headers["Location"] == "/history"
    assert signed_in_as(client) == "kim@example.com"
    with app.app_context():
        user = users.find_user_by_email("kim@example.com")
        assert (user.name, user.role, user.oidc_subject, user.has_password) == (
            "Kim Kowalski",
            "staff",
            "kim-0001",
            False,
        )
        assert user.last_login_at is not None
        actions = list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        assert actions == ["user.created", "auth.login"]
    # The whole protocol was spoken: discovery, authorize, token, JWKS, userinfo.
    assert {"/.well-known/openid-configuration", "/authorize", "/token", "/jwks", "/userinfo"} <= set(provider.requests)

    # The next sign-in finds the same user by the provider's subject, even after the email changed there.
    again = app.test_client()
    company_sign_in(again, provider, KIM | {"email": "kim.k@example.com"})
    assert signed_in_as(again) == "kim@example.com"
    with app.app_context():
        assert db.session.query(User).count() == 1


def test_the_admin_role_follows_the_group_claim_at_every_sign_in(app, client, provider, admin):
    company_sign_in(client, provider, KIM | {"groups": ["sales", "workbench-admins"]})
    with app.app_context():
        assert users.find_user_by_email(KIM["email"]).role == "admin"
    assert client.get("/admin/users").status_code == 200

    later = app.test_client()
    company_sign_in(later, provider, KIM | {"groups": ["sales"]})
    with app.app_context():
        assert users.find_user_by_email(KIM["email"]).role == "staff"
        assert (
            db.session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "user.role_changed"))
            == "now staff, from the company groups"
        )
    assert later.get("/admin/users").status_code == 403
    # Groups in the ID token count as well as userinfo's.
    provider.groups_in_id_token = True
    company_sign_in(app.test_client(), provider, KIM | {"groups": ["workbench-admins"]})
    with app.app_context():
        assert users.find_user_by_email(KIM["email"]).role == "admin"


@pytest.mark.both_databases
def test_the_first_sign_in_joins_the_default_group_made_when_missing(app, provider, staff, db_backend):
    app.config["OIDC_DEFAULT_GROUP"] = "Company staff"
    company_sign_in(app.test_client(), provider, KIM)
    company_sign_in(app.test_client(), provider, {"sub": "lee-2", "email": "lee@example.com", "name": "Lee"})
    # An existing account linked by its email is not a first sign-in: it keeps its groups.
    company_sign_in(app.test_client(), provider, {"sub": "sam-3", "email": staff.email, "email_verified": True})
    company_sign_in(app.test_client(), provider, KIM)  # signing in again adds nothing
    with app.app_context():
        (group,) = db.session.scalars(select(Group)).all()
        assert group.name == "Company staff"
        assert [member.email for member in group.members] == ["kim@example.com", "lee@example.com"]
        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("group.%"))))
        assert actions == ["group.created", "group.member_added", "group.member_added"]


def test_a_deactivated_user_stays_out(app, client, provider, admin):
    company_sign_in(app.test_client(), provider, KIM)
    with app.app_context():
        users.set_active(users.find_user_by_email(KIM["email"]), False, actor=users.get_user(admin.id))
    response = company_sign_in(client, provider, KIM)
    assert response.status_code == 403 and "deactivated" in response.get_data(as_text=True)
    assert signed_in_as(client) is None
    with app.app_context():
        detail = db.session.scalar(
            select(AuditEvent.detail).where(AuditEvent.action == "auth.login_failed").order_by(AuditEvent.id.desc())
        )
    assert detail == "account deactivated (company sign-in)"


def test_an_existing_password_account_is_linked_by_its_verified_email(app, client, provider, staff, admin):
    company_sign_in(client, provider, {"sub": "sam-77", "email": staff.email, "name": "Sam", "email_verified": True})
    assert signed_in_as(client) == staff.email
    with app.app_context():
        user = users.get_user(staff.id)
        assert user.oidc_subject == "sam-77" and user.name == "Sam Staff" and user.has_password
    # An unverified email links nothing.
    other = app.test_client()
    response = company_sign_in(other, provider, {"sub": "x-1", "email": "ada@example.com", "email_verified": False})
    assert response.status_code == 403 and signed_in_as(other) is None


def test_what_fails_a_check_signs_nobody_in(app, provider):
    denied = app.test_client()
    provider.deny = True
    response = company_sign_in(denied, provider, KIM)
    assert response.status_code == 403 and "access_denied" in response.get_data(as_text=True)
    provider.deny = False
    assert signed_in_as(denied) is None

    forged = app.test_client()
    provider.forge = True
    response = company_sign_in(forged, provider, KIM)
    assert response.status_code == 403 and signed_in_as(forged) is None
    provider.forge = False

    # A code sent back to another browser (no state of its own in its session) is refused.
    victim, attacker = app.test_client(), app.test_client()
    provider.identity = KIM
    start = attacker.get("/login/company")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])
    assert victim.get(f"{callback.path}?{callback.query}").status_code == 403
    assert signed_in_as(victim) is None
    with app.app_context():
        assert users.find_user_by_email(KIM["email"]) is None


def test_a_company_account_makes_an_api_token_right_after_signing_in(app, client, provider):
    company_sign_in(client, provider, KIM)
    page = client.get("/account/tokens").get_data(as_text=True)
    assert "You sign in with your company account" in page and 'name="current_password"' not in page
    data = {"name": "laptop", "scopes": ["chat"]}
    assert post_form(client, "/account/tokens", data, page="/account/tokens").status_code == 201
    assert "sign in with your company account" in client.get("/account").get_data(as_text=True).lower()


@pytest.mark.parametrize("app_overrides", [{}])
def test_without_oidc_settings_there_is_no_company_sign_in(app, client):
    assert client.get("/login/company").status_code == 404
    assert "company account" not in client.get("/login").get_data(as_text=True)


def test_the_sign_in_page_offers_both_ways(client, staff):
    html = client.get("/login").get_data(as_text=True)
    assert "Sign in with your company account" in html and 'name="password"' in html
    assert login(client, staff.email, PASSWORD).status_code == 302


def test_with_password_login_off_the_company_account_is_the_only_way_in(provider, tmp_path):
    from tests.support.apps import build_app

    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'off.db'}", provider.settings(PASSWORD_LOGIN="off"))
    with app.app_context():
        db.create_all()
        users.create_user("sam@example.com", "Sam", PASSWORD)
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    assert "Sign in with your company account" in html and 'name="password"' not in html
    refused = post_form(client, "/login", {"email": "sam@example.com", "password": PASSWORD})
    assert refused.status_code == 403 and "Password sign-in is turned off" in refused.get_data(as_text=True)
    assert signed_in_as(client) is None
    company_sign_in(client, provider, {"sub": "sam-1", "email": "sam@example.com", "email_verified": True})
    assert signed_in_as(client) == "sam@example.com"
    account = client.get("/account").get_data(as_text=True)
    assert "password sign-in is turned off here" in account and "New password" not in account
    changed = post_form(client, "/account/password", {"current_password": PASSWORD}, page="/account")
    assert changed.status_code == 403


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"OIDC_ISSUER": "https://id.example.com"}, "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set"),
        ({"PASSWORD_LOGIN": "off"}, "nobody could sign in"),
        ({"PASSWORD_LOGIN": "maybe"}, "PASSWORD_LOGIN must be 'on' or 'off'"),
    ],
)
def test_settings_that_would_lock_everyone_out_stop_the_start(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", **settings})
