"""A small HTTPS client that behaves like a browser: keeps cookies, signs in through the real form with its
CSRF token, sends a Referer (Flask-WTF checks it on HTTPS), and hands its session to wapiti as a cookie file."""

from __future__ import annotations

import http.cookiejar
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from tests.support.web import CSRF_META


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    content_type: str
    text: str


def unverified_tls() -> ssl.SSLContext:
    """The scan target's certificate is self-signed, made for this run."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Browser:
    def __init__(self, base_url: str, user_agent: str) -> None:
        self.base_url = base_url
        self.user_agent = user_agent
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=unverified_tls()), urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def absolute(self, url: str) -> str:
        return urllib.parse.urljoin(self.base_url + "/", url)

    def request(self, url: str, data: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Page:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        outgoing = urllib.request.Request(
            self.absolute(url), data=body, headers={"User-Agent": self.user_agent, **(headers or {})}
        )
        try:
            with self.opener.open(outgoing, timeout=60) as response:
                return self._page(response, response.status)
        except urllib.error.HTTPError as error:
            return self._page(error, error.code)

    @staticmethod
    def _page(response: Any, status: int) -> Page:
        content_type = response.headers.get("Content-Type", "")
        raw = response.read()
        textual = content_type.startswith(("text/", "application/json"))
        return Page(response.geturl(), status, content_type, raw.decode("utf-8", "replace") if textual else "")

    def get(self, url: str) -> Page:
        return self.request(url)

    def post_form(self, url: str, fields: dict[str, Any], page: str, headers: dict[str, str] | None = None) -> Page:
        """POST `fields` with the CSRF token of `page`, as if submitted from it."""
        token = CSRF_META.search(self.get(page).text)
        if token is None:
            raise RuntimeError(f"no CSRF token on {page}")
        return self.request(
            url, {"csrf_token": token.group(1), **fields}, {"Referer": self.absolute(page), **(headers or {})}
        )

    def sign_in(self, email: str, password: str) -> None:
        page = self.post_form("/login", {"email": email, "password": password}, "/login")
        if urllib.parse.urlsplit(page.url).path.startswith("/login"):
            raise RuntimeError(f"could not sign in as {email} (status {page.status})")

    def wapiti_cookie_file(self) -> dict[str, Any]:
        """The session in wapiti's JSON cookie format: {domain: {path: {name: attributes}}}."""
        jar: dict[str, Any] = {}
        for cookie in self.cookies:
            jar.setdefault(cookie.domain, {}).setdefault(cookie.path, {})[cookie.name] = {
                "value": cookie.value,
                "expires": cookie.expires,
                "secure": cookie.secure,
                "port": None,
                "version": 0,
            }
        if not jar:
            raise RuntimeError("no session cookie to hand to wapiti")
        return jar
