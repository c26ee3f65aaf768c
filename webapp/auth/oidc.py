"""Company sign-in with OpenID Connect, through Authlib's Flask client.

Built once per app when OIDC_ISSUER is set: the provider's discovery document (`<issuer>/.well-known/openid-
configuration`) names its endpoints and keys, read at the first sign-in. A sign-in is the authorization-code flow:
`/login/company` sends the browser to the provider with a state and a nonce kept in the session; the provider
sends it back to `/login/company/callback` with a one-time code, which Authlib exchanges for tokens, checking the
ID token's signature (the provider's JWKS), issuer, audience, expiry and nonce. The userinfo endpoint then gives
the person's current claims (many providers put groups only there). `service.sign_in_with_company_account`
decides who that is in Workbench.
"""

from __future__ import annotations

from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, url_for
from joserfc.errors import JoseError
from werkzeug.wrappers import Response

from webapp.errors import Refused, Unavailable

# How long a request to the provider may take before the sign-in is answered 503.
PROVIDER_TIMEOUT_SECONDS = 10
UNREACHABLE = "The company sign-in service does not answer right now. Try again in a minute."


def init_oidc(app: Flask) -> None:
    """Register the provider as Authlib's client `company`, when OIDC_ISSUER is set."""
    config = app.config
    if not config["OIDC_ISSUER"]:
        return
    oauth = OAuth(app)
    app.extensions["oidc_client"] = oauth.register(
        "company",
        client_id=config["OIDC_CLIENT_ID"],
        client_secret=config["OIDC_CLIENT_SECRET"],
        server_metadata_url=f"{config['OIDC_ISSUER']}/.well-known/openid-configuration",
        client_kwargs={"scope": config["OIDC_SCOPES"], "default_timeout": PROVIDER_TIMEOUT_SECONDS},
    )


def is_enabled() -> bool:
    return "oidc_client" in current_app.extensions


def start() -> Response:
    """The redirect to the provider's sign-in page (state and nonce kept in the session by Authlib)."""
    client = current_app.extensions["oidc_client"]
    try:
        return client.authorize_redirect(url_for("auth.company_callback", _external=True))
    except requests.RequestException:
        raise Unavailable(UNREACHABLE, retry_after=60) from None


def finish() -> dict[str, Any]:
    """The person's claims after the provider sent the browser back: the checked ID token's, then userinfo's on
    top (the same `sub`). Refused (403) when the provider said no or anything fails a check."""
    client = current_app.extensions["oidc_client"]
    try:
        token = client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if not claims.get("sub"):
            raise Refused("The company sign-in sent no ID token. Ask an administrator to check OIDC_SCOPES.", 403)
        info = dict(client.userinfo(token=token))
    except requests.RequestException:
        raise Unavailable(UNREACHABLE, retry_after=60) from None
    except (AuthlibBaseError, JoseError) as error:
        reason = getattr(error, "description", None) or getattr(error, "error", None) or type(error).__name__
        raise Refused(f"The company sign-in did not complete ({reason}). Try signing in again.", 403) from None
    if info.get("sub", claims["sub"]) != claims["sub"]:
        raise Refused("The company sign-in answered for someone else. Try signing in again.", 403)
    return {**claims, **info}


def groups_of(claims: dict[str, Any]) -> list[str]:
    """The person's groups from the claim OIDC_GROUPS_CLAIM names (a list, or one name)."""
    groups = claims.get(current_app.config["OIDC_GROUPS_CLAIM"]) or []
    if isinstance(groups, str):
        groups = [groups]
    return [str(group) for group in groups]
