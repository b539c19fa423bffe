"""do-not-disturb and pauses set by STARFACE

``dnd`` and its clock ``dnd_at`` hold the DND_STATUS STARFACE last reported;
``acd_paused_by_pbx`` remembers that STARFACE (QUEUE_PAUSE or DND) put the agent on PAUSE, so
only then does leaving that state take the agent back to Calls and Media. Existing users have
no DND and no pause from STARFACE.

Restartable: MariaDB commits each ALTER on its own, so a column an interrupted run already
added is left as it is (storage/ddl.py).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Callable

import sqlalchemy as sa

from starface_connector.storage import ddl
from starface_connector.storage.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS: tuple[tuple[str, Callable[[], sa.Column[object]]], ...] = (
    ("dnd", lambda: sa.Column("dnd", sa.Boolean(), nullable=False, server_default="0")),
    ("dnd_at", lambda: sa.Column("dnd_at", UTCDateTime(), nullable=True)),
    (
        "acd_paused_by_pbx",
        lambda: sa.Column("acd_paused_by_pbx", sa.Boolean(), nullable=False, server_default="0"),
    ),
)


def upgrade() -> None:
    for _, column in COLUMNS:
        ddl.add_column("jtel_users", column())


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        ddl.drop_column("jtel_users", name)
