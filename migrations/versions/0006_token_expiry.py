"""API tokens expire: expires_at on every token; tokens made before get API_TOKEN_DAYS's default from now

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:40:00.000000

"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The default of API_TOKEN_DAYS: tokens made before expiry existed get that long from the upgrade, not from
# their creation (their scripts did not know they would stop).
EXISTING_TOKEN_DAYS = 90


def upgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    expires = datetime.now(UTC) + timedelta(days=EXISTING_TOKEN_DAYS)
    op.get_bind().execute(sa.text("UPDATE api_tokens SET expires_at = :expires"), {"expires": expires})
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
