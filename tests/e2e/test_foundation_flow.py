"""End to end in Chromium: what an admin and a staff member do on their first day."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support.pages import sign_in

pytestmark = pytest.mark.e2e


def sign_out(page: Page) -> None:
    page.locator("details.account-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_admin_creates_staff_who_signs_in_changes_password_and_signs_out(page: Page, live_server):
    base, admin = live_server.url, live_server.admin
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    sign_in(page, base, admin.email, admin.password)
    expect(page.get_by_role("heading", name=f"Hello, {admin.name}")).to_be_visible()
    page.get_by_text("Admin", exact=True).click()
    page.get_by_role("link", name="Users").click()
    page.get_by_label("Email").fill("new.staff@example.com")
    page.get_by_label("Name").fill("Nina Newcomer")
    page.get_by_label("Initial password").fill("first day password")
    page.get_by_label("Role").select_option("staff")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("Nina Newcomer (new.staff@example.com) can now sign in.")).to_be_visible()
    expect(page.get_by_role("cell", name="new.staff@example.com")).to_be_visible()
    sign_out(page)

    sign_in(page, base, "new.staff@example.com", "first day password")
    expect(page.get_by_role("heading", name="Hello, Nina Newcomer")).to_be_visible()
    for card in ["Chat", "History", "Files", "Faces"]:
        expect(page.locator(".feature-card").get_by_role("link", name=card)).to_be_visible()
    expect(page.get_by_text("Admin", exact=True)).to_have_count(0)

    response = page.goto(f"{base}/admin/users")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name=re.compile("Not allowed"))).to_be_visible()

    page.goto(f"{base}/account")
    page.get_by_label("Current password").fill("first day password")
    page.get_by_label("New password", exact=True).fill("my own new password")
    page.get_by_label("New password again").fill("my own new password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    sign_out(page)

    sign_in(page, base, "new.staff@example.com", "first day password")
    expect(page.get_by_text("The email or password is not right")).to_be_visible()
    sign_in(page, base, "new.staff@example.com", "my own new password")
    expect(page.get_by_role("heading", name="Hello, Nina Newcomer")).to_be_visible()
    assert not [error for error in console_errors if "Content Security Policy" in error], console_errors
