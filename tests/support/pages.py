"""Chromium through Playwright, as a person uses the app: the sign-in form filled in and sent."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.web import LiveServer


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    """Fill in and send the sign-in form; what the page shows next is for the test to check."""
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_as_admin(page: Page, live_server: LiveServer) -> None:
    """Sign in as the live server's admin and wait for the dashboard's greeting."""
    sign_in(page, live_server.url, live_server.admin.email, live_server.admin.password)
    expect(page.get_by_role("heading", name=re.compile("Hello"))).to_be_visible()
