"""The one place that turns an error into a response: an HTML page, an htmx fragment, JSON under /api/, or
OpenAI's error shape under the /v1 gateway.

Services raise `NotFound`, `Refused` or `Unavailable` with a sentence meant for a person; views never catch them.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask, Response, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sqlalchemy_errors
from werkzeug.exceptions import HTTPException

log = logging.getLogger("webapp.errors")

TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Could not process this",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Service unavailable",
}

MESSAGES = {
    400: "The request could not be understood.",
    401: "You need to sign in to see this.",
    403: "Your account is not allowed to open this page.",
    404: "There is nothing here. The link may be old, or the item was deleted.",
    405: "This address does not accept that kind of request.",
    413: "What you sent is larger than this server accepts.",
    429: "Too many attempts in a short time. Wait a minute, then try again.",
    500: "An unexpected error stopped this request. It has been logged.",
    503: "A service this page needs is not available right now. Try again in a minute.",
}

DATABASE_DOWN_MESSAGE = "The database is not answering right now. Try again in a minute."
# SQLite reports a missing table or a syntax error as an OperationalError too: only these mean "unavailable".
SQLITE_UNAVAILABLE = (
    "unable to open database file",
    "database is locked",
    "disk i/o error",
    "database or disk is full",
)
RETRY_AFTER_SECONDS = "10"

CSRF_MESSAGE = "This form has expired or was already used. Go back, reload the page and submit it again."

GATEWAY_PREFIX = "/v1"
# OpenAI's error `type`, by status (others: "api_error" from 500, else "invalid_request_error").
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
# Methods every route answers by itself; not worth naming to a client that used the wrong one.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})


class ServiceError(Exception):
    """An error a service raises on purpose, with a message a person can act on.

    `field` names the input it concerns, by the name of the service function's parameter (which is also the
    form field's name: `Refused("…", field="password")`), so a page can show the message beside that field.
    """

    status = 400

    def __init__(self, message: str, status: int | None = None, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.field = field
        self.details = details


class NotFound(ServiceError):
    status = 404


class Refused(ServiceError):
    """The input was understood and refused (400 by default; 413 too large, 422 unprocessable)."""

    status = 400


class Unavailable(ServiceError):
    """An outside service (model provider, file store, database) is down or too slow, or the server is busy.

    `retry_after` (seconds) is sent as Retry-After when the wait is known."""

    status = 503

    def __init__(
        self, message: str, status: int | None = None, *, retry_after: int | None = None, **details: Any
    ) -> None:
        super().__init__(message, status, **details)
        self.retry_after = retry_after


def show_beside_field(form: Any, error: ServiceError) -> None:
    """Show a service's refusal beside the form field it names; one that names no field of `form` is raised again,
    for the error pipeline to render like any other."""
    if not error.field or error.field not in form:
        raise error
    field = form[error.field]
    field.errors = [*field.errors, error.message]


def for_gateway() -> bool:
    """The OpenAI-compatible gateway (/v1) answers in OpenAI's error shape, which its clients read.

    Decided by the path, not by the gateway blueprint's own error handler: a path under /v1 that matches no route
    (or not with this method) never reaches the blueprint, and the OpenAI clients must still get their shape."""
    return request.path == GATEWAY_PREFIX or request.path.startswith(GATEWAY_PREFIX + "/")


def wants_json() -> bool:
    """API routes (/api/ and the /v1 gateway) answer in JSON; everything else is a browser page."""
    return request.path.startswith("/api/") or for_gateway()


def openai_error(status: int, message: str, code: str | None = None, param: str | None = None) -> Response:
    """OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`: the OpenAI clients raise their usual
    exception for the status (NotFoundError, BadRequestError, ...) with our sentence as its message."""
    kind = OPENAI_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    response = jsonify({"error": {"message": message, "type": kind, "param": param, "code": code}})
    response.status_code = status
    return response


def error_response(status: int, message: str | None = None, *, field: str | None = None, **details: Any) -> Response:
    """Render `status` as OpenAI's error (under /v1), JSON (under /api/), an htmx fragment or a whole page.

    `field` names the input concerned; only OpenAI's shape has a place for it (`param`)."""
    message = message or MESSAGES.get(status, "The request failed.")
    if for_gateway():
        return openai_error(status, message, details.get("code"), field)
    if wants_json():
        body = {"error": message, "status": status}
        body.update(details)
        return make_response(jsonify(body), status)
    context = {
        "status": status,
        "title": TITLES.get(status, "Error"),
        "message": message,
        "request_id": g.get("request_id"),
    }
    if request.headers.get("HX-Request"):
        return make_response(render_template("errors/_error.html", **context), status)
    return make_response(render_template("errors/error.html", **context), status)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def handle_service_error(error: ServiceError):
        response = error_response(error.status, error.message, field=error.field, **error.details)
        if getattr(error, "retry_after", None):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        return error_response(400, CSRF_MESSAGE)

    @app.errorhandler(sqlalchemy_errors.DBAPIError)
    @app.errorhandler(sqlalchemy_errors.TimeoutError)
    def handle_database_error(error: Exception):
        if not is_database_down(error):
            return handle_unexpected_error(error)
        log.warning("database unavailable (request id %s): %s", g.get("request_id"), error.__class__.__name__)
        forget_database_state()
        response = error_response(503, DATABASE_DOWN_MESSAGE)
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        status = error.code or 500
        if status == 401:
            return app.login_manager.unauthorized()
        # werkzeug's default descriptions are written for developers; ours for people, except where a
        # view passed its own description through abort(status, description=...).
        default = type(error).description
        message = error.description if error.description != default else None
        if message is None and status in (404, 405) and for_gateway():
            message = gateway_route_message(app, status, getattr(error, "valid_methods", None))
        response = error_response(status, message)
        if status == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected_error(error: Exception):
        log.exception("unhandled error (request id %s)", g.get("request_id"))
        return error_response(500)


def gateway_route_message(app: Flask, status: int, valid_methods: list[str] | None) -> str:
    """What a client of the gateway is told for a path it does not offer (404) or a method it does not take there
    (405). The operations offered are read from the URL map, so a new gateway route is named without more code."""
    asked = f"{request.method} {request.path}"
    if status == 405 and valid_methods:
        allowed = " or ".join(sorted(set(valid_methods) - IMPLICIT_METHODS))
        return f"{asked} is not supported: {request.path} takes {allowed}."
    offered = sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(GATEWAY_PREFIX + "/")
        for method in (rule.methods or set()) - IMPLICIT_METHODS
    )
    listed = [f"{method} {path}" for path, method in offered]
    answers = " and ".join([", ".join(listed[:-1]), listed[-1]] if len(listed) > 1 else listed)
    return f"{asked} is not offered by this gateway, which answers {answers}."


def is_database_down(error: Exception) -> bool:
    """A connection problem (503 and recover), as opposed to a bad query or a broken rule (a real 500)."""
    if isinstance(error, (sqlalchemy_errors.InterfaceError, sqlalchemy_errors.TimeoutError)):
        return True
    if isinstance(error, sqlalchemy_errors.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sqlalchemy_errors.OperationalError):
        # PostgreSQL (psycopg): lost or refused connections, shutdowns, timeouts; mistakes are ProgrammingError.
        if isinstance(error.orig, sqlite3.Error):
            return any(reason in str(error.orig).lower() for reason in SQLITE_UNAVAILABLE)
        return True
    return False


def forget_database_state() -> None:
    """Let the error page render without the database: drop the failed transaction, show the page signed out.

    Rendering the signed-in navigation would load the user again (another query to a database that is down),
    and the error handler would then fail itself.
    """
    from webapp.extensions import db, login_manager

    try:
        db.session.rollback()
    except Exception:
        log.debug("rollback after a database failure failed", exc_info=True)
    g._login_user = login_manager.anonymous_user()
