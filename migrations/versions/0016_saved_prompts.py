"""saved prompts: a personal library of prompts with a /command each, admins' shared with everyone

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 14:20:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "saved_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "command", name="uq_saved_prompts_user_id_command"),
    )
    op.create_index("ix_saved_prompts_shared", "saved_prompts", ["shared"], unique=False)


def downgrade():
    op.drop_index("ix_saved_prompts_shared", table_name="saved_prompts")
    op.drop_table("saved_prompts")
