"""The endpoints only htmx reaches, found in the pages themselves, and a page that lists them for wapiti.

wapiti follows links and submits forms; it does not read `hx-post`, `hx-get` or `sse-connect`. A small crawl
signed in as the scanner reads every page it can reach for those attributes (with the fields htmx would send:
the enclosing form's, `hx-vals`, the button's own), so a new htmx endpoint is scanned without editing this.
The app under scan then serves them as plain links and forms, with the requesting session's CSRF token.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from flask import Flask
from flask_wtf.csrf import generate_csrf

from tests.security.browser import Browser

HTMX_VERBS = ("get", "post", "put", "patch", "delete")
SEED_PATH = "/scan/htmx-endpoints"
SKIPPED_PREFIXES = ("/static/", "/logout")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    fields: tuple[tuple[str, str], ...] = ()


@dataclass
class _Form:
    method: str
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)


class PageReader(HTMLParser):
    """Links, and the htmx requests an element would make, of one HTML page."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.links: list[str] = []
        self._forms: list[_Form] = []
        self._found: list[tuple[str, str, _Form | None, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "a" and attributes.get("href"):
            self.links.append(self._absolute(attributes["href"]))
        form = self._forms[-1] if self._forms else None
        if tag == "form":
            form = _Form(attributes.get("method", "get").upper(), self._absolute(attributes.get("action", "")))
            self._forms.append(form)
        elif form is not None and tag in ("input", "select", "textarea") and attributes.get("name"):
            kind = attributes.get("type", "text")
            # What a submit sends: no buttons (only the one pressed), only checked boxes and radios.
            if kind != "submit" and (kind not in ("checkbox", "radio") or "checked" in attributes):
                form.fields.append((attributes["name"], attributes.get("value", "")))
        for verb in HTMX_VERBS:
            if f"hx-{verb}" in attributes:
                self._found.append(
                    (verb.upper(), self._absolute(attributes[f"hx-{verb}"]), form, own_fields(tag, attributes))
                )
        if "sse-connect" in attributes:
            self._found.append(("GET", self._absolute(attributes["sse-connect"]), None, []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._forms:
            self._forms.pop()

    def _absolute(self, url: str) -> str:
        return urljoin(self.page_url, url)

    def endpoints(self) -> list[Endpoint]:
        """htmx requests that are not already a plain form wapiti would submit (same method and action)."""
        found = []
        for method, url, form, fields in self._found:
            if form is not None and form.method == method and form.action == url:
                continue  # a plain <form method=post action=url> that htmx merely enhances
            if form is not None and method != "GET":
                fields = form.fields + fields  # htmx sends the enclosing form's values with a non-GET request
            found.append(Endpoint(method, urlsplit(url).path, tuple(dict(fields).items())))
        return found


def own_fields(tag: str, attributes: dict[str, str]) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    try:
        values = json.loads(attributes.get("hx-vals", "") or "{}")
    except ValueError:
        values = {}  # a "js:" expression: nothing static to send
    if isinstance(values, dict):
        fields.extend((str(name), str(value)) for name, value in values.items())
    if tag == "button" and attributes.get("name"):
        fields.append((attributes["name"], attributes.get("value", "")))
    return fields


def discover(browser: Browser, start: list[str], limit: int = 200) -> tuple[list[Endpoint], set[str]]:
    """Crawl same-site HTML pages from `start` (one visit per path); return htmx endpoints and pages seen."""
    origin = urlsplit(browser.base_url).netloc
    queue, seen = deque(start), set()
    endpoints: dict[tuple[str, str], Endpoint] = {}
    while queue and len(seen) < limit:
        url = queue.popleft()
        parts = urlsplit(browser.absolute(url))
        if parts.netloc != origin or parts.path in seen or parts.path.startswith(SKIPPED_PREFIXES):
            continue
        seen.add(parts.path)
        page = browser.get(url)
        if not page.content_type.startswith("text/html"):
            continue
        reader = PageReader(page.url)
        reader.feed(page.text)
        queue.extend(reader.links)
        for endpoint in reader.endpoints():
            endpoints.setdefault((endpoint.method, endpoint.path), endpoint)
    return sorted(endpoints.values(), key=lambda e: (e.path, e.method)), seen


def seed_page(endpoints: list[Endpoint]) -> str:
    """Links for the GET endpoints and one form per POST endpoint, with this session's CSRF token.

    HTML forms cannot send PUT, PATCH or DELETE: the scan reports such endpoints as not scanned."""
    token = escape(generate_csrf())
    items = []
    for endpoint in endpoints:
        if endpoint.method == "GET":
            items.append(f'<li><a href="{escape(endpoint.path)}">{escape(endpoint.path)}</a></li>')
            continue
        if endpoint.method != "POST":
            continue
        inputs = "".join(
            f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
            for name, value in endpoint.fields
            if name != "csrf_token"
        )
        items.append(
            f'<li><form method="post" action="{escape(endpoint.path)}">'
            f'<input type="hidden" name="csrf_token" value="{token}">{inputs}'
            f'<button type="submit">{escape(endpoint.path)}</button></form></li>'
        )
    return f"<!doctype html><title>htmx endpoints</title><ul>{''.join(items)}</ul>"


def serve_seed_page(app: Flask, endpoints: list[Endpoint]) -> None:
    """Add the seed page to the app under scan (before its first request); `endpoints` may be filled later."""
    app.add_url_rule(SEED_PATH, "scan_htmx_endpoints", lambda: seed_page(endpoints))
