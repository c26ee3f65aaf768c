"""shared conversations: a snapshot of a conversation behind a link, and who opened it

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 14:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "conversation_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name=op.f("uq_conversation_shares_token_hash")),
    )
    op.create_index("ix_conversation_shares_conversation_id", "conversation_shares", ["conversation_id"], unique=True)
    op.create_index("ix_conversation_shares_user_id", "conversation_shares", ["user_id"], unique=False)
    op.create_index("ix_conversation_shares_expires_at", "conversation_shares", ["expires_at"], unique=False)
    op.create_table(
        "shared_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["conversation_shares.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shared_messages_share_id_position", "shared_messages", ["share_id", "position"], unique=False)
    op.create_table(
        "share_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("first_opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["conversation_shares.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("share_id", "user_id", name="uq_share_views_share_id_user_id"),
    )
    op.create_index("ix_share_views_user_id", "share_views", ["user_id"], unique=False)


def downgrade():
    op.drop_index("ix_share_views_user_id", table_name="share_views")
    op.drop_table("share_views")
    op.drop_index("ix_shared_messages_share_id_position", table_name="shared_messages")
    op.drop_table("shared_messages")
    op.drop_index("ix_conversation_shares_expires_at", table_name="conversation_shares")
    op.drop_index("ix_conversation_shares_user_id", table_name="conversation_shares")
    op.drop_index("ix_conversation_shares_conversation_id", table_name="conversation_shares")
    op.drop_table("conversation_shares")
