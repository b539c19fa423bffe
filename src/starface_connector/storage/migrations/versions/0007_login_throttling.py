"""login throttling, and whether a user's password is still the initial one

``login_failures`` holds each failed login for an hour or two, under the SHA-256 of the
source address or account it counts against; every instance decides by it, so throttling
holds across instances. ``jtel_users.initial_password`` says the password is still the
UsersUID; it is learnt at sign-in, so existing users start with false until they next sign in.

Restartable: a table, index or column an interrupted run already made is left as it is
(storage/ddl.py).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from starface_connector.storage import ddl
from starface_connector.storage.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_login_failures_key", ["key", "failed_at"]),
    ("ix_login_failures_failed_at", ["failed_at"]),
)


def upgrade() -> None:
    ddl.create_table(
        "login_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    for name, columns in INDEXES:
        ddl.create_index(name, "login_failures", columns)
    ddl.add_column(
        "jtel_users",
        sa.Column("initial_password", sa.Boolean(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    ddl.drop_column("jtel_users", "initial_password")
    for name, _ in INDEXES:
        ddl.drop_index(name, "login_failures")
    if ddl.has_table("login_failures"):
        op.drop_table("login_failures")
