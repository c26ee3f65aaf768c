"""What a browser or a script does to the app in a test: sign in through the real form, send the CSRF token of a
page, present a bearer token; and the accounts it signs in as."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery staple"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    role: str
    password: str


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Flask
    admin: Account


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    """The CSRF token a browser would find on `page` (every page carries it in a meta tag)."""
    html = client.get(page, follow_redirects=True).get_data(as_text=True)
    match = CSRF_META.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def post_form(
    client: FlaskClient, url: str, data: dict[str, Any] | None = None, page: str = "/login", **kwargs: Any
) -> TestResponse:
    """POST a form the way a browser does: with the CSRF token from a page of the same session."""
    form = {"csrf_token": csrf_token(client, page), **(data or {})}
    return client.post(url, data=form, **kwargs)


def login(
    client: FlaskClient, email: str, password: str, remember: bool = False, next_url: str | None = None
) -> TestResponse:
    data = {"email": email, "password": password}
    if remember:
        data["remember"] = "y"
    url = "/login" + (f"?next={next_url}" if next_url else "")
    response = post_form(client, url, data)
    return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


REASON = "Checking a complaint about this, ticket 4312"


def give_reason(client: FlaskClient, kind: str, target_id: int, reason: str = REASON) -> TestResponse:
    """An admin says why they open someone else's conversation, file or face result (the form /admin/review asks
    first); for the next half hour that admin opens it without being asked again."""
    page = f"/admin/review?kind={kind}&id={target_id}"
    return post_form(client, "/admin/review", {"kind": kind, "id": str(target_id), "reason": reason}, page=page)
