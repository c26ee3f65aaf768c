"""Factories: the objects a test needs, made through the real services, in one line each."""

from __future__ import annotations

from flask import Flask

from tests.support.web import PASSWORD, Account
from webapp.auth import service as users


def make_account(app: Flask, email: str, name: str, role: str) -> Account:
    with app.app_context():
        user = users.create_user(email, name, PASSWORD, role=role)
        return Account(id=user.id, email=user.email, name=user.name, role=role, password=PASSWORD)


def make_token(app: Flask, account: Account, name: str = "tests") -> str:
    """A new API token of the account; returns the plain token (shown once, as the tokens page does)."""
    with app.app_context():
        _, plain = users.create_token(users.get_user(account.id), name)
    return plain


def staff_with_token(app: Flask) -> tuple[Account, str]:
    account = make_account(app, "sam@example.com", "Sam Staff", "staff")
    return account, make_token(app, account, "faults")
