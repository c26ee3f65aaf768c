"""PostgreSQL databases of a run's own, for the tests, the cluster and the benchmarks: made at the start, dropped
at the end, so parallel runs on one server never meet."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url


def database_url(server_url: str, database: str) -> str:
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def create_database(server_url: str, database: str, fresh: bool = False) -> str:
    """Create `database` on the server of `server_url` unless it exists (`fresh`: drop it first); return its URL."""
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if fresh:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            ).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        engine.dispose()
    return database_url(server_url, database)


def drop_database(server_url: str, database: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def reset_to_empty() -> None:
    """Drop every table of the app's database (in an app context), Alembic's version table too: a migration test
    then starts from nothing."""
    from webapp.extensions import db

    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    assert inspect(db.engine).get_table_names() == []
