"""long reasons on MariaDB, and the indexes retention deletes by

``event_log.reason`` was TEXT, which holds 64 KiB on MariaDB and MySQL: a GROUP_UPDATE naming
a few thousand logins failed its whole batch there. It is LONGTEXT now, like the JSON columns
(SQLite's and PostgreSQL's TEXT have no such limit; nothing changes there).

``purge`` deletes the event log by ``received_at`` and the remembered eventIds by ``seen_at``,
oldest first, in small chunks; both get an index so a chunk reads only the rows it deletes.

Restartable: each step is skipped when an interrupted run did it already (storage/ddl.py);
setting the column's type again is harmless.

Revision ID: 0006
Revises: 0005
"""

from alembic import op
from sqlalchemy.dialects import mysql

from starface_connector.storage import ddl

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_event_log_received_at", "event_log", "received_at"),
    ("ix_seen_events_seen_at", "seen_events", "seen_at"),
)


def _reason_type(long: bool) -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    op.alter_column(
        "event_log",
        "reason",
        existing_type=mysql.TEXT() if long else mysql.LONGTEXT(),
        type_=mysql.LONGTEXT() if long else mysql.TEXT(),
        existing_nullable=False,
        nullable=False,
    )


def upgrade() -> None:
    _reason_type(long=True)
    for name, table, column in INDEXES:
        ddl.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in INDEXES:
        ddl.drop_index(name, table)
    _reason_type(long=False)
