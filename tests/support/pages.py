"""Chromium through Playwright, as a person uses the app: the sign-in form filled in and sent."""

from __future__ import annotations

from playwright.sync_api import Page


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
