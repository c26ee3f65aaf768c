"""A small OpenID Connect provider for tests: discovery, authorize, token, JWKS and userinfo, over real HTTP.

It signs real ID tokens (RS256, joserfc) with a key made when it starts, so the app's OIDC client (Authlib)
checks signatures, issuer, audience, expiry and nonce exactly as it would against a company's provider. Nobody
types a password here: `/authorize` signs in whoever `identity` describes (the test sets it), or answers
`access_denied` when `deny` is set, and redirects back with a one-time code.

    with OIDCProvider(client_id="workbench", client_secret="s3cret") as provider:
        provider.identity = {"sub": "u-1", "email": "kim@example.com", "name": "Kim", "groups": ["staff"]}
        ... OIDC_ISSUER=provider.issuer ...

Run one for a demo: `python -m tests.support.servers.oidc_server --port 8002` (it prints the settings to use).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

ID_TOKEN_SECONDS = 300


class OIDCProvider:
    """An OpenID provider on 127.0.0.1 (a free port unless given), in a daemon thread.

    `identity`: the claims of the person who signs in next (`sub` required; `email`, `name`, `groups`, ...).
    `groups_in_id_token`: also put `groups` into the ID token (by default only userinfo has them, as many
    providers do). `deny`: answer the next authorizations with `error=access_denied`. `forge`: sign ID tokens
    with another key under the published key's id (a forgery the client must refuse). `requests` records the
    paths asked for, in order.
    """

    def __init__(
        self,
        *,
        client_id: str = "workbench",
        client_secret: str = "test-secret",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.identity: dict[str, Any] = {"sub": "person-1", "email": "person@example.com", "name": "A Person"}
        self.groups_in_id_token = False
        self.deny = False
        self.forge = False
        self.requests: list[str] = []
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4), "use": "sig", "alg": "RS256"})
        self._codes: dict[str, dict[str, Any]] = {}
        self._access_tokens: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.provider = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The app's settings for signing in here."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": self.client_id,
            "OIDC_CLIENT_SECRET": self.client_secret,
            **extra,
        }

    # --- the protocol ---

    def discovery(self) -> dict[str, Any]:
        issuer = self.issuer
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "claims_supported": ["sub", "email", "email_verified", "name", "groups"],
        }

    def authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """(status, Location or error text) for GET /authorize."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith("http"):
            return 400, "unknown client or redirect_uri"
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return 400, "response_type must be code and scope must include openid"
        state = {"state": query["state"]} if "state" in query else {}
        if self.deny:
            return 302, f"{redirect_uri}?{urlencode({'error': 'access_denied', **state})}"
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "identity": dict(self.identity),
                "nonce": query.get("nonce"),
                "redirect_uri": redirect_uri,
            }
        return 302, f"{redirect_uri}?{urlencode({'code': code, **state})}"

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # one use only
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        identity = grant["identity"]
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": identity["sub"],
            "aud": self.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
            "auth_time": now,
            **{name: value for name, value in identity.items() if name not in ("sub", "groups")},
        }
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        if self.groups_in_id_token and "groups" in identity:
            claims["groups"] = identity["groups"]
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = identity
        key = self.key
        if self.forge:
            key = RSAKey.generate_key(2048, parameters={"kid": self.key.kid, "use": "sig", "alg": "RS256"})
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)
        return 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}

    def userinfo(self, authorization: str) -> tuple[int, dict[str, Any]]:
        scheme, _, access_token = authorization.partition(" ")
        with self._lock:
            identity = self._access_tokens.get(access_token) if scheme.lower() == "bearer" else None
        if identity is None:
            return 401, {"error": "invalid_token"}
        return 200, dict(identity)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def provider(self) -> OIDCProvider:
        return self.server.provider  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.provider.requests.append(parts.path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if parts.path == "/.well-known/openid-configuration":
            self._json(200, self.provider.discovery())
        elif parts.path == "/jwks":
            self._json(200, self.provider.jwks())
        elif parts.path == "/userinfo":
            self._json(*self.provider.userinfo(self.headers.get("Authorization", "")))
        elif parts.path == "/authorize":
            status, where = self.provider.authorize(query)
            if status == 302:
                self.send_response(302)
                self.send_header("Location", where)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(status, {"error": "invalid_request", "error_description": where})
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        self.provider.requests.append(parts.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        form = {name: values[0] for name, values in parse_qs(body).items()}
        if parts.path == "/token":
            self._json(*self.provider.token(form, self.headers.get("Authorization", "")))
        else:
            self._json(404, {"error": "not_found"})

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests` instead."""


def main() -> None:
    parser = argparse.ArgumentParser(description="A local OpenID Connect provider for trying company sign-in.")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--email", default="person@example.com")
    parser.add_argument("--groups", default="staff", help="comma-separated groups of whoever signs in")
    arguments = parser.parse_args()
    provider = OIDCProvider(port=arguments.port)
    groups = [group for group in arguments.groups.split(",") if group]
    provider.identity = {"sub": arguments.email, "email": arguments.email, "name": arguments.email, "groups": groups}
    with provider:
        for name, value in provider.settings().items():
            print(f"{name}={value}")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
