"""the /v1 gateway: conversations.origin (an API conversation) and api_tokens.keep_history

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 15:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    # Server defaults fill the rows that exist (chat conversations; tokens keep history, as before), then go: the
    # models set both columns themselves.
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=16), nullable=False, server_default="chat"))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keep_history", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.alter_column("origin", existing_type=sa.String(length=16), server_default=None)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("keep_history", existing_type=sa.Boolean(), server_default=None)


def downgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("keep_history")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("origin")
