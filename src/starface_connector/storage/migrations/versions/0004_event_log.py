"""one name for the event log, and its reasons as data

The log of every event received was called the audit log in some places and the event log in
others; it is the event log now, also in the schema: ``audit_events`` becomes ``event_log``.
Its new column ``notes`` holds each reason as a list of {"why", "args"}, so the web console can
say it in the reader's language; ``reason`` keeps the English text of the contract. Rows
written before this migration have no notes.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = (("login",), ("event_id",))


def _rename_indexes(old_table: str, new_table: str) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":  # the primary key's name follows the naming convention too
        op.execute(f"ALTER TABLE {new_table} RENAME CONSTRAINT pk_{old_table} TO pk_{new_table}")
    for (column,) in INDEXES:
        old, new = f"ix_{old_table}_{column}", f"ix_{new_table}_{column}"
        if dialect == "postgresql":
            op.execute(f"ALTER INDEX {old} RENAME TO {new}")
        elif dialect in ("mysql", "mariadb"):
            op.execute(f"ALTER TABLE {new_table} RENAME INDEX {old} TO {new}")
        else:  # SQLite cannot rename an index
            op.drop_index(old, table_name=new_table)
            op.create_index(new, new_table, [column])


def upgrade() -> None:
    op.rename_table("audit_events", "event_log")
    _rename_indexes("audit_events", "event_log")
    op.add_column("event_log", sa.Column("notes", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("event_log", "notes")
    op.rename_table("event_log", "audit_events")
    _rename_indexes("event_log", "audit_events")
