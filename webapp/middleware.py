"""Per-request plumbing: request ids, one log line per request, and security headers."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import inspect

request_log = logging.getLogger("webapp.request")

# An incoming id is kept only if it is short and plain, so it cannot inject into log lines or headers.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record made during a request ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(app: Flask) -> None:
    """Log to stderr with the request id on every line; leave handlers alone if a host (gunicorn) set them."""
    logger = logging.getLogger("webapp")
    logger.setLevel(app.config["LOG_LEVEL"])
    if not any(isinstance(f, RequestIdFilter) for f in logger.filters):
        logger.addFilter(RequestIdFilter())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
        handler.addFilter(RequestIdFilter())
        logger.addHandler(handler)
        # Our handler prints the line; the root logger (pytest's capture, gunicorn) still receives it.
        logger.propagate = True


def content_security_policy(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


def current_user_id() -> int | None:
    """The signed-in user's id if this request already loaded one (never a query just for the log)."""
    user = g.get("api_user") or g.get("_login_user")
    state = inspect(user, raiseerr=False) if user is not None else None
    if state is not None:
        # The identity survives a commit that expired the row: reading `user.id` then would query again, and
        # fail the request when the database has just gone away.
        return state.identity[0] if state.identity else None
    return getattr(user, "id", None)


def register_request_hooks(app: Flask) -> None:
    csp = content_security_policy(app.config["CONTENT_SECURITY_POLICY"])
    hsts_seconds = app.config["HSTS_SECONDS"]

    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if hsts_seconds:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts_seconds}; includeSubDomains")
        started = g.get("request_started")
        duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
        request_log.info(
            "%s %s %s %.1fms user=%s request_id=%s",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            current_user_id() or "-",
            g.get("request_id", "-"),
        )
        return response
