"""The service's own operations: health, and who a token belongs to."""

from __future__ import annotations

import logging
from typing import Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.api import bp
from webapp.api.auth import api_user, public
from webapp.api.spec import operation
from webapp.auth.schemas import Me
from webapp.errors import error_response
from webapp.extensions import db
from webapp.schemas import Schema

log = logging.getLogger(__name__)


class Health(Schema):
    status: Literal["ok"]
    database: Literal["ok"]


@bp.get("/health")
@public
@operation("service", (200, Health, "Up, and the database answers."), 503)
def health():
    """Liveness, with a database round trip

    503 when the database does not answer."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("health check: database unavailable: %s", error.__class__.__name__)
        # The API's one error shape (error, status), so a client reads every failure the same way.
        return error_response(503, "The database does not answer.", database="unavailable")
    return Health(status="ok", database="ok")


@bp.get("/me")
@operation("account", (200, Me, "The token's owner."))
def me() -> Me:
    """Who the token belongs to

    The simplest way for a script to check its token."""
    return Me.of(api_user())
