"""Flask extensions, created once here and bound to each app in `create_app` (the factory pattern)."""

import logging
import os

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy import exc as sqlalchemy_errors
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints make migrations reproducible on SQLite (batch mode) and PostgreSQL alike.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# No default limits: only the routes that need throttling (password checks) declare one, and name themselves here.
limiter = Limiter(key_func=get_remote_address)
THROTTLED_ENDPOINTS: set[str] = set()


def release_sessions_safely(app: Flask) -> None:
    """End each request's session without failing the request when its connection died meanwhile.

    Flask-SQLAlchemy ends the session at teardown with a rollback; if the database server went away after the
    request's last query (a restart), that rollback raises and gunicorn would answer 500 to a request that had
    succeeded. Registered after `db.init_app`, so it runs first (teardowns run in reverse order).
    """

    @app.teardown_appcontext
    def release_session(error: BaseException | None) -> None:
        try:
            db.session.remove()
        except sqlalchemy_errors.DBAPIError as failure:
            logging.getLogger("webapp.errors").warning("dropping a dead database connection: %s", failure.orig)
            db.session().invalidate()  # closes the connection without talking to it; the pool opens a new one
            db.session.remove()


@limiter.request_filter
def only_throttled_routes() -> bool:
    """Only password checks declare limits: skip the limiter's bookkeeping on every other request."""
    return request.endpoint not in THROTTLED_ENDPOINTS


@event.listens_for(Engine, "connect")
def tune_sqlite(dbapi_connection, connection_record) -> None:
    """SQLite in write-ahead-log mode: readers no longer wait for a writer, and a commit costs no fsync.

    Streaming chat replies read and write their rows while other requests do the same; with the default
    rollback journal they would queue behind each other. A no-op for PostgreSQL and for in-memory databases.
    """
    if type(dbapi_connection).__module__.split(".")[0] not in {"sqlite3", "pysqlite2"}:
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # Durable at every checkpoint; a power cut may lose the last commits, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def create_private_sqlite_file(database_uri: str) -> None:
    """Create a SQLite database file readable by its owner only (0600) before SQLite would create it (0644).

    SQLite gives its journal and WAL files the database file's mode, so they stay private too. A file that
    already exists keeps its mode; PostgreSQL and in-memory databases are left alone.
    """
    url = make_url(database_uri)
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return  # SQLite cannot open it either, and says so (a 503) when the app first uses it
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # an empty file is a new database to SQLite; an existing one is left as it is
