"""Accounts and data for the scan, made through the app's own API and pages, so that pages with ids exist:
a conversation with a reply, one whose reply failed (Retry), one still waiting (Stop, the reply stream), an
image, a text file, a face comparison of a group photo (face choice buttons) and a face analysis."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient

from tests.security.browser import Browser
from tests.support.faces import group_photo
from tests.support.factories import make_token, make_user
from tests.support.photos import test_photo
from tests.support.samples import jpeg
from tests.support.servers.openai_server import OpenAIServer
from tests.support.web import bearer

# A stored-XSS probe of our own in every text field we seed: the pages must show it as text.
PROBE = "<img src=x onerror=alert(1)> ' OR 1=1 --"


@dataclass(frozen=True)
class Account:
    id: int
    token: str  # a fresh API token of it


def create_account(app: Flask, email: str, name: str, role: str = "staff") -> Account:
    user = make_user(app, role, email=email, name=name)
    return Account(user.id, make_token(app, user, "scan"))


def api(client: FlaskClient, token: str, method: str, url: str, expect: int, **kwargs: Any) -> dict[str, Any]:
    response = client.open(url, method=method, headers=bearer(token), **kwargs)
    if response.status_code != expect:
        raise RuntimeError(f"seeding: {method} {url} answered {response.status_code}: {response.get_data(True)}")
    return response.get_json()


def upload(client: FlaskClient, token: str, name: str, content: bytes) -> int:
    return api(
        client,
        token,
        "POST",
        "/api/upload",
        201,
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )["id"]


@dataclass(frozen=True)
class Library:
    pages: list[str]  # pages with ids the scanner must reach
    # The forms and links of objects that only repeat another's (a second photo, a second conversation): the same
    # code with the same parameters, left out of the attacks so the modules can attack everything else to the end.
    repeats: list[str]


def seed_library(app: Flask, token: str, model_server: OpenAIServer) -> Library:
    """Files, conversations and face results of one account, the pages they appear on and their repeats."""
    client = app.test_client()
    image = upload(client, token, "team photo.jpg", group_photo())
    portrait = upload(client, token, "portrait.jpg", test_photo("obama.jpg").read_bytes())
    notes = upload(client, token, "notes.txt", f"Meeting notes\n{PROBE}\n".encode())
    small = upload(client, token, "small.jpg", jpeg())
    chat = api(client, token, "POST", "/api/chat", 200, json={"message": f"Hello {PROBE}", "system": PROBE})
    model_server.error_status, model_server.error_times = 500, 1
    failed = api(client, token, "POST", "/api/chat", 503, json={"message": "This reply fails"})
    comparison = api(client, token, "POST", "/api/face/verify", 200, json={"image1": image, "image2": portrait})
    analysis = api(client, token, "POST", "/api/face/analyze", 200, json={"image": portrait})
    pages = [
        f"/files/{image}",
        f"/files/{notes}",
        f"/chat/{chat['conversation_id']}",
        f"/chat/{failed['conversation_id']}",
        f"/faces/comparisons/{comparison['id']}",
        f"/faces/analyses/{analysis['id']}",
    ]
    return Library(
        pages, [f"/files/{portrait}/*", f"/files/{small}/*", *conversation_actions(failed["conversation_id"])]
    )


def conversation_actions(conversation_id: int) -> list[str]:
    """A conversation's forms and exports (its page itself stays scanned)."""
    return [f"/chat/{conversation_id}/*", f"/history/{conversation_id}/*"]


def seed_waiting_reply(browser: Browser) -> str:
    """A message sent from the chat page whose reply stream was never opened: the page shows Stop and the
    stream URL, as it does while a reply is being written."""
    page = browser.post_form("/chat", {"message": "Still waiting for this one", "model": "openai:gpt-4o-mini"}, "/chat")
    if page.status != 200 or "/chat/" not in page.url:
        raise RuntimeError(f"seeding: the chat page answered {page.status} at {page.url}")
    return urlsplit(page.url).path
