"""audit entries keep their reason as data

``notes`` holds the reason as a list of {"why", "args"}, so the web console can say it in the
reader's language; ``reason`` keeps the English text of the contract. Old rows have no notes.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("notes", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "notes")
