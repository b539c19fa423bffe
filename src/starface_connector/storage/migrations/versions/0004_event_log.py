"""one name for the event log, and its reasons as data

The log of every event received was called the audit log in some places and the event log in
others; it is the event log now, also in the schema: ``audit_events`` becomes ``event_log``.
Its new column ``notes`` holds each reason as a list of {"why", "args"}, so the web console can
say it in the reader's language; ``reason`` keeps the English text of the contract. Rows
written before this migration have no notes.

Restartable: each step is skipped when an interrupted run did it already (storage/ddl.py).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from starface_connector.storage import ddl

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = (("login",), ("event_id",))


def _rename(old_table: str, new_table: str) -> None:
    ddl.rename_table(old_table, new_table)
    # the primary key's name follows the naming convention too (PostgreSQL only names it)
    ddl.rename_primary_key(new_table, f"pk_{old_table}", f"pk_{new_table}")
    for (column,) in INDEXES:
        old, new = f"ix_{old_table}_{column}", f"ix_{new_table}_{column}"
        ddl.rename_index(new_table, old, new, [column])


def upgrade() -> None:
    _rename("audit_events", "event_log")
    ddl.add_column("event_log", sa.Column("notes", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("event_log", "notes")
    _rename("event_log", "audit_events")
