"""The committed migrations build exactly the schema the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from tests.support.databases import reset_to_empty
from webapp.extensions import db


@pytest.mark.both_databases
def test_upgrading_an_empty_database_gives_exactly_the_models_schema(app):
    with app.app_context():
        reset_to_empty()
        upgrade()
        with db.engine.connect() as connection:
            # The app's own Alembic settings (its filter of tables the models do not describe), as `flask db migrate`.
            options = {**app.extensions["migrate"].configure_args, "compare_type": True, "compare_server_default": True}
            context = MigrationContext.configure(connection, opts=options)
            differences = compare_metadata(context, db.metadata)
        assert differences == [], f"models and migrations disagree; run `flask db migrate`: {differences}"


@pytest.mark.both_databases
def test_migrations_downgrade_to_empty_and_upgrade_again(app):
    with app.app_context():
        reset_to_empty()
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "users" in inspect(db.engine).get_table_names()
