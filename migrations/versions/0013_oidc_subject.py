"""users.oidc_subject: the company account (OpenID Connect `sub`) a user signs in with

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint("uq_users_oidc_subject", ["oidc_subject"])


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_oidc_subject", type_="unique")
        batch_op.drop_column("oidc_subject")
