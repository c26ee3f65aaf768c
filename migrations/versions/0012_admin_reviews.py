"""admin reviews: the reason an admin gave before opening someone else's conversation, file or face result

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 14:20:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "admin_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["admin_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("admin_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_admin_reviews_owner_id_created_at", ["owner_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_admin_reviews_admin_target", ["admin_id", "target_type", "target_id", "created_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("admin_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_admin_reviews_admin_target")
        batch_op.drop_index("ix_admin_reviews_owner_id_created_at")
    op.drop_table("admin_reviews")
