"""exact key comparison on MariaDB/MySQL

Login-IDs, eventIds and group ids are compared byte for byte: MariaDB's default collation
folded 'anna', 'Anna', 'änna' and 'anna ' into one key, so a batch naming two of them failed
with a duplicate-key error. SQLite and PostgreSQL compare exactly already; nothing changes there.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from starface_connector.storage import ddl
from starface_connector.storage.tables import exact_collation

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, column, nullable)
KEYS = (
    ("jtel_users", "users_uid", False),
    ("user_tombstones", "users_uid", False),
    ("acd_groups", "group_id", False),
    ("acd_group_members", "group_id", False),
    ("acd_group_members", "users_uid", False),
    ("seen_events", "event_id", False),
    ("audit_events", "event_id", True),
    ("audit_events", "login", True),
    ("audit_events", "group_id", True),
)
# a column's collation cannot change while a foreign key joins it
FOREIGN_KEYS = (
    ("fk_acd_group_members_group_id_acd_groups", "group_id", "acd_groups"),
    ("fk_acd_group_members_users_uid_jtel_users", "users_uid", "jtel_users"),
)


def _recollate(collation: str | None) -> None:
    """Restartable (MariaDB commits each ALTER on its own): a foreign key an interrupted run
    dropped already is not dropped again, one it created already is kept, and setting a
    column's collation again is harmless."""
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    for name, _, _ in FOREIGN_KEYS:
        ddl.drop_foreign_key(name, "acd_group_members")
    for table, column, nullable in KEYS:
        op.alter_column(
            table,
            column,
            existing_type=sa.String(128),
            type_=mysql.VARCHAR(128, collation=collation),
            existing_nullable=nullable,
            nullable=nullable,
        )
    for name, column, referred in FOREIGN_KEYS:
        ddl.create_foreign_key(
            name, "acd_group_members", referred, [column], [column], ondelete="CASCADE"
        )


def upgrade() -> None:
    _recollate(exact_collation(op.get_bind().dialect))


def downgrade() -> None:
    _recollate(None)  # back to the table's default collation
