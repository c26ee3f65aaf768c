"""End to end in Chromium: signing in with a company account, through a real local OpenID provider."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.support.axe import axe_problems, axe_script
from tests.support.servers.oidc_server import OIDCProvider

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCProvider]:
    with OIDCProvider() as server:
        yield server


@pytest.fixture
def app_overrides(provider: OIDCProvider):
    return provider.settings(OIDC_ADMIN_GROUP="workbench-admins")


def test_a_new_colleague_signs_in_with_the_company_account_and_lands_where_they_were_going(
    context: BrowserContext, live_server, provider: OIDCProvider
):
    context.add_init_script(path=str(axe_script()))
    page = context.new_page()
    provider.identity = {"sub": "e-42", "email": "noor@example.com", "name": "Noor Nadeem", "groups": ["staff"]}

    page.goto(f"{live_server.url}/history")  # not signed in: to the sign-in page, remembering /history
    expect(page).to_have_url(re.compile(r"/login\?next="))
    assert axe_problems(page) == []  # the sign-in page with both ways in
    page.get_by_role("button", name="Sign in with your company account").click()

    expect(page).to_have_url(f"{live_server.url}/history")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Hello, Noor Nadeem")).to_be_visible()
    assert "/token" in provider.requests and "/userinfo" in provider.requests
