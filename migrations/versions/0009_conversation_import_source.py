"""imported conversations: where each came from and its id there, unique per user (importing again adds nothing)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_source", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("import_source_id", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(
            "uq_conversations_import_source", ["user_id", "import_source", "import_source_id"]
        )


def downgrade():
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_constraint("uq_conversations_import_source", type_="unique")
        batch_op.drop_column("import_source_id")
        batch_op.drop_column("import_source")
