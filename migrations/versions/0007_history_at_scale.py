"""history at scale: indexes for the history and review order, title search; SQLite's FTS5 index of messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# SQLite: an FTS5 index reading its text from `messages` (external content), kept in step by triggers. A copy of
# webapp/chat/models.py's statements as they were when this migration was written.
SQLITE_SEARCH_INDEX = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content); "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    # Index the messages already there.
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)


def upgrade():
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_user_id_pinned_updated_at_id", ["user_id", "pinned", "updated_at", "id"], unique=False
        )
        batch_op.create_index("ix_conversations_updated_at_id", ["updated_at", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_conversations_title_search",
            "conversations",
            [sa.text("to_tsvector('english', title)")],
            postgresql_using="gin",
        )
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_SEARCH_INDEX:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS messages_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_conversations_title_search", table_name="conversations", postgresql_using="gin")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_updated_at_id")
        batch_op.drop_index("ix_conversations_user_id_pinned_updated_at_id")
