"""title trigrams: on PostgreSQL a GIN index of conversations.title's trigrams (pg_trgm) and one on (provider, model)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 17:30:00.000000

Both serve the admins' history over everyone. Search matches a substring of the title (`ILIKE '%word%'`): among
one user's conversations the index on user_id finds the few titles to test, but over everyone every title was
tested in turn (100,000: 135-177 ms of a 290 ms query), which the trigram index answers in 2 ms. The page's model
filter lists every (provider, model) pair: a DISTINCT over every conversation (28 ms), or a few probes of an index
on the pair (history.models_used). Nothing changes on SQLite: it has no trigram index, and keeps its DISTINCT.
The extension stays on downgrade: other objects of the database may use it, and it holds no data of ours.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13 on): the owner of the database may create it, no superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_conversations_title_trigrams",
        "conversations",
        ["title"],
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )
    op.create_index("ix_conversations_provider_model", "conversations", ["provider", "model"])


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_conversations_provider_model", table_name="conversations")
    op.drop_index("ix_conversations_title_trigrams", table_name="conversations", postgresql_using="gin")
