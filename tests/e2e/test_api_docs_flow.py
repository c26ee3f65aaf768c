"""End to end in Chromium: a staff member finds the API reference, authorizes with a new token and tries a call.

The page is Swagger UI as vendored, under the app's CSP, with no serious or critical axe-core violation (its own
colours are darkened and its one-server picker hidden in static/css/api-docs.css for that).
"""

import re

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.support.axe import axe_problems, axe_script
from tests.support.pages import sign_in

pytestmark = pytest.mark.e2e


def test_api_reference_renders_under_the_csp_and_tries_a_call_with_a_token(context: BrowserContext, live_server):
    base, admin = live_server.url, live_server.admin
    context.add_init_script(path=str(axe_script()))  # outside the page's CSP, as in test_accessibility.py
    page = context.new_page()
    sign_in(page, base, admin.email, admin.password)
    page.goto(f"{base}/account/tokens")
    page.get_by_label("Token name").fill("docs page")
    page.get_by_label("Your password").fill(admin.password)
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("Token", exact=True).input_value()

    # From here on (the docs page): CSP violations and script errors show up as console errors.
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.get_by_role("link", name="Read the API reference").click()

    expect(page).to_have_url(f"{base}/api/docs")
    expect(page.get_by_role("heading", name=re.compile("Workbench API"))).to_be_visible()
    for tag in ["chat", "files", "faces", "account"]:
        expect(page.locator(f"#operations-tag-{tag}")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/files/{file_id}/url")).to_be_visible()
    violations = axe_problems(page)
    assert not violations, "\n".join(violations)

    page.get_by_role("button", name="Authorize").first.click()
    page.locator("#auth-bearer-value").fill(token)
    page.get_by_role("button", name="Apply credentials").click()
    page.get_by_role("button", name="Close", exact=True).click()

    me = page.locator("#operations-account-me")
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    expect(me.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    expect(me.locator(".live-responses-table .microlight").first).to_contain_text(admin.email)
    violations = axe_problems(page)
    assert not violations, "\n".join(violations)
    assert not problems, problems
