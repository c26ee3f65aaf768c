from __future__ import annotations

import logging

from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.api import bp
from webapp.api.auth import api_user, public
from webapp.errors import error_response
from webapp.extensions import db

log = logging.getLogger(__name__)


@bp.get("/health")
@public
def health():
    """Liveness plus a real database round trip; 503 when the database does not answer."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("health check: database unavailable: %s", error.__class__.__name__)
        # The API's one error shape (error, status), so a client reads every failure the same way.
        return error_response(503, "The database does not answer.", database="unavailable")
    return jsonify({"status": "ok", "database": "ok"})


@bp.get("/me")
def me():
    """Who the token belongs to: the simplest way for a script to check its token."""
    user = api_user()
    return jsonify({"id": user.id, "email": user.email, "name": user.name, "role": user.role})
