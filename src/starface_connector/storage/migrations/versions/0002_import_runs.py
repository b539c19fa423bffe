"""import runs

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import starface_connector.storage.tables
from starface_connector.storage import ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ddl.create_table(
        "import_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("started_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.Column("finished_at", starface_connector.storage.tables.UTCDateTime(), nullable=True),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )


def downgrade() -> None:
    op.drop_table("import_runs")
