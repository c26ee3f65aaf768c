"""API tokens have scopes (chat, files, faces, read-only); tokens made before keep full access

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:05:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Every area of the API: what a token could do before scopes existed, so no script stops working.
FULL_ACCESS = "chat,files,faces"


def upgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.String(length=64), nullable=False, server_default=FULL_ACCESS))
    # The server default only fills the rows that exist now; the model sets the column itself from here on.
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("scopes", existing_type=sa.String(length=64), server_default=None)


def downgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
