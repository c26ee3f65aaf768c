"""How fast anyone may guess a password: at sign-in, on the account's password change and at token creation.

The three share their counts (Flask-Limiter shared limits), so a stolen session guesses no faster than a
stranger at the sign-in form. Failures are counted per (email, address) at LOGIN_FAILURE_LIMIT and per email at
the looser LOGIN_EMAIL_FAILURE_LIMIT: ten wrong passwords from one address lock out that address, not the
colleague whose email was typed; locking them out takes many addresses. Sign-in also counts per address, so
one address cannot try many emails either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from webapp.auth import service
from webapp.extensions import THROTTLED_ENDPOINTS, limiter

F = TypeVar("F", bound=Callable)


def failure_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


def email_failure_limit() -> str:
    return current_app.config["LOGIN_EMAIL_FAILURE_LIMIT"]


def email_guessed() -> str:
    """The account whose password is being tried: the signed-in user's, else the sign-in form's email."""
    if current_user.is_authenticated:
        return current_user.email
    return service.normalize_email(request.form.get("email", ""))


def email_and_address() -> str:
    return f"{email_guessed()}|{get_remote_address()}"


def sign_in_failed(response: Response) -> bool:
    """A sign-in that did not redirect (the form shown again) failed."""
    return response.status_code != 302


def form_refused(response: Response) -> bool:
    """The account forms answer 400 when they refuse what was sent (a wrong current password among it)."""
    return response.status_code == 400


def password_guesses(endpoint: str, failed: Callable[[Response], bool], per_address: bool = False) -> Callable[[F], F]:
    """Throttle the POSTs of `endpoint` that `failed` says were refused, with the counts shared by all such
    routes; `per_address` also limits the address on its own (sign-in, where the email is the guess too)."""
    THROTTLED_ENDPOINTS.add(endpoint)

    def decorate(view: F) -> F:
        limits = [
            limiter.shared_limit(
                failure_limit, "password-guesses", key_func=email_and_address, methods=["POST"], deduct_when=failed
            ),
            limiter.shared_limit(
                email_failure_limit,
                "password-guesses-email",
                key_func=email_guessed,
                methods=["POST"],
                deduct_when=failed,
            ),
        ]
        if per_address:
            limits.append(
                limiter.limit(failure_limit, key_func=get_remote_address, methods=["POST"], deduct_when=failed)
            )
        for limit in limits:
            view = limit(view)
        return view

    return decorate


def per_worker_note(config: Mapping[str, Any]) -> str | None:
    """What a server says at start when its workers each count in their own memory (production refuses it)."""
    workers = config["WEB_CONCURRENCY"]
    if workers <= 1 or not config["RATELIMIT_STORAGE_URI"].startswith("memory"):
        return None
    return (
        f"the sign-in throttle counts in each worker's memory (RATELIMIT_STORAGE_URI=memory://, {workers} workers): "
        f"up to {workers} times LOGIN_FAILURE_LIMIT ({config['LOGIN_FAILURE_LIMIT']}) wrong passwords get through; "
        "set RATELIMIT_STORAGE_URI=redis://HOST:6379/0 to count them together"
    )
