"""files in chat: text read from files and its passages (PostgreSQL tsvector, SQLite FTS5), files attached to
messages, the sources a reply was given, files of projects

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 14:20:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# SQLite: FTS5 over the passages, reading the text from `file_passages`; a copy of webapp/attachments/models.py's
# statements as they were when this migration was written.
SQLITE_PASSAGE_INDEX = (
    "CREATE VIRTUAL TABLE file_passages_fts USING fts5(text, content='file_passages', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER file_passages_fts_insert AFTER INSERT ON file_passages BEGIN "
    "INSERT INTO file_passages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER file_passages_fts_delete AFTER DELETE ON file_passages BEGIN "
    "INSERT INTO file_passages_fts(file_passages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
)


def upgrade():
    op.create_table(
        "file_texts",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("passages", sa.Integer(), nullable=False),
        sa.Column("extracted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("file_id"),
    )
    op.create_table(
        "file_passages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("first", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("search_vector", postgresql.TSVECTOR().with_variant(sa.Text(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_file_passages_file_id_position", "file_passages", ["file_id", "position"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_file_passages_search", "file_passages", ["search_vector"], postgresql_using="gin")
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_PASSAGE_INDEX:
            op.execute(statement)
    op.create_table(
        "message_files",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id", "file_id"),
    )
    op.create_index("ix_message_files_file_id", "message_files", ["file_id"], unique=False)
    op.create_table(
        "message_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("locator", sa.String(length=64), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_sources_file_id", "message_sources", ["file_id"], unique=False)
    op.create_index("ix_message_sources_message_id", "message_sources", ["message_id"], unique=False)
    op.create_table(
        "project_files",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["stored_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "file_id"),
    )
    op.create_index("ix_project_files_file_id", "project_files", ["file_id"], unique=False)


def downgrade():
    op.drop_index("ix_project_files_file_id", table_name="project_files")
    op.drop_table("project_files")
    op.drop_index("ix_message_sources_message_id", table_name="message_sources")
    op.drop_index("ix_message_sources_file_id", table_name="message_sources")
    op.drop_table("message_sources")
    op.drop_index("ix_message_files_file_id", table_name="message_files")
    op.drop_table("message_files")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS file_passages_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS file_passages_fts")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_file_passages_search", table_name="file_passages", postgresql_using="gin")
    op.drop_index("ix_file_passages_file_id_position", table_name="file_passages")
    op.drop_table("file_passages")
    op.drop_table("file_texts")
