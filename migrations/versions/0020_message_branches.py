"""message branches: messages.parent_id, conversations.current_message_id; filled for the conversations there

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 14:10:00.000000

Until now a conversation was its messages in id order. Each message now names the one it follows (its parent), so
an edited question or a regenerated reply can be a sibling of the version it replaces; each conversation names the
last message of the branch it shows. The conversations already stored become one branch each: a message's parent
is the previous message of its conversation, the current message its last one. Both are filled by set-based
statements (a million messages take seconds, not one round trip each).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# PostgreSQL: each message's predecessor by one window over the table (a sort, not a lookup per row).
POSTGRESQL_PARENTS = """
UPDATE messages SET parent_id = previous.parent_id
FROM (SELECT id, lag(id) OVER (PARTITION BY conversation_id ORDER BY id) AS parent_id FROM messages) AS previous
WHERE messages.id = previous.id AND previous.parent_id IS NOT NULL
"""
POSTGRESQL_CURRENT = """
UPDATE conversations SET current_message_id = latest.id
FROM (SELECT conversation_id, max(id) AS id FROM messages GROUP BY conversation_id) AS latest
WHERE conversations.id = latest.conversation_id
"""
# SQLite: the same through the index on conversation_id (its entries carry the rowid, so max(id) is a seek).
SQLITE_PARENTS = """
UPDATE messages SET parent_id = (
    SELECT max(previous.id) FROM messages AS previous
    WHERE previous.conversation_id = messages.conversation_id AND previous.id < messages.id
)
"""
SQLITE_CURRENT = """
UPDATE conversations SET current_message_id = (
    SELECT max(messages.id) FROM messages WHERE messages.conversation_id = conversations.id
)
"""


# The triggers of migration 0007 that keep SQLite's FTS5 index in step: rebuilding `messages` drops them.
SQLITE_SEARCH_TRIGGERS = (
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content); "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
)


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column("conversations", sa.Column("current_message_id", sa.Integer(), nullable=True))
    if postgresql:
        op.add_column("messages", sa.Column("parent_id", sa.Integer(), nullable=True))
        # Filled before the index and the foreign key exist: neither has to be kept up to date row by row.
        op.execute(POSTGRESQL_PARENTS)
        op.create_foreign_key(
            op.f("fk_messages_parent_id_messages"), "messages", "messages", ["parent_id"], ["id"], ondelete="CASCADE"
        )
    else:
        # SQLite adds a foreign key only by rebuilding the table (ids kept, so the FTS5 index still matches); the
        # rebuild loses the triggers that keep that index in step (migration 0007), made again here.
        with op.batch_alter_table("messages", schema=None, recreate="always") as batch_op:
            batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                op.f("fk_messages_parent_id_messages"), "messages", ["parent_id"], ["id"], ondelete="CASCADE"
            )
        for statement in SQLITE_SEARCH_TRIGGERS:
            op.execute(statement)
        op.execute(SQLITE_PARENTS)
    op.create_index(op.f("ix_messages_parent_id"), "messages", ["parent_id"], unique=False)
    op.execute(POSTGRESQL_CURRENT if postgresql else SQLITE_CURRENT)


def downgrade():
    op.drop_index(op.f("ix_messages_parent_id"), table_name="messages")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("fk_messages_parent_id_messages"), "messages", type_="foreignkey")
        op.drop_column("messages", "parent_id")
    else:
        # Rebuilt again, as for adding it.
        with op.batch_alter_table("messages", schema=None, recreate="always") as batch_op:
            batch_op.drop_constraint(op.f("fk_messages_parent_id_messages"), type_="foreignkey")
            batch_op.drop_column("parent_id")
        for statement in SQLITE_SEARCH_TRIGGERS:
            op.execute(statement)
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("current_message_id")
