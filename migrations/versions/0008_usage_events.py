"""usage ledger: one row per request sent to a model; filled from the replies already stored

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    # Every stored reply that reached a model (a stream claimed it) counts as one request, with the tokens its
    # provider reported; one INSERT … SELECT, so a million messages take seconds, not a Python loop.
    op.execute(
        """
        INSERT INTO usage_events (user_id, provider, model, prompt_tokens, completion_tokens, source, created_at)
        SELECT conversations.user_id, COALESCE(messages.provider, ''), COALESCE(messages.model, ''),
               COALESCE(messages.prompt_tokens, 0), COALESCE(messages.completion_tokens, 0), 'chat',
               COALESCE(messages.completed_at, messages.created_at)
        FROM messages JOIN conversations ON conversations.id = messages.conversation_id
        WHERE messages.role = 'assistant' AND messages.started_at IS NOT NULL AND messages.status != 'pending'
        """
    )
    op.create_index("ix_usage_events_user_id_created_at", "usage_events", ["user_id", "created_at"], unique=False)
    op.create_index("ix_usage_events_created_at", "usage_events", ["created_at"], unique=False)


def downgrade():
    op.drop_index("ix_usage_events_created_at", table_name="usage_events")
    op.drop_index("ix_usage_events_user_id_created_at", table_name="usage_events")
    op.drop_table("usage_events")
