"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

import starface_connector.storage.tables
from starface_connector.storage import ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Restartable: every step is skipped when it was done already (see storage/ddl.py).
    ddl.create_table(
        "acd_groups",
        sa.Column("group_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", starface_connector.storage.tables.UTCDateTime(), nullable=True),
        sa.Column("created_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_acd_groups")),
    )
    ddl.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=True),
        sa.Column("login", sa.String(length=128), nullable=True),
        sa.Column("group_id", sa.String(length=128), nullable=True),
        sa.Column("occurred_at", starface_connector.storage.tables.UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    ddl.create_index("ix_audit_events_event_id", "audit_events", ["event_id"], unique=False)
    ddl.create_index("ix_audit_events_login", "audit_events", ["login"], unique=False)
    ddl.create_table(
        "batch_lock",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("batches", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_lock")),
    )
    ddl.create_table(
        "credentials",
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("login", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_credentials")),
    )
    ddl.create_table(
        "jtel_users",
        sa.Column("users_uid", sa.String(length=128), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("phone_numbers", sa.JSON(), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("acd_status", sa.String(length=20), nullable=False),
        sa.Column("phone_status", sa.String(length=20), nullable=False),
        sa.Column("profile_at", starface_connector.storage.tables.UTCDateTime(), nullable=True),
        sa.Column("acd_at", starface_connector.storage.tables.UTCDateTime(), nullable=True),
        sa.Column("phone_at", starface_connector.storage.tables.UTCDateTime(), nullable=True),
        sa.Column("created_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("users_uid", name=op.f("pk_jtel_users")),
    )
    ddl.create_table(
        "parameter_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("changed_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("old_value", sa.String(length=64), nullable=False),
        sa.Column("new_value", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parameter_changes")),
    )
    ddl.create_table(
        "seen_events",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("seen_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_seen_events")),
    )
    ddl.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("created_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_sessions")),
    )
    ddl.create_table(
        "system_parameters",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_system_parameters")),
    )
    ddl.create_table(
        "user_tombstones",
        sa.Column("users_uid", sa.String(length=128), nullable=False),
        sa.Column("deleted_at", starface_connector.storage.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("users_uid", name=op.f("pk_user_tombstones")),
    )
    ddl.create_table(
        "acd_group_members",
        sa.Column("group_id", sa.String(length=128), nullable=False),
        sa.Column("users_uid", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["acd_groups.group_id"],
            name=op.f("fk_acd_group_members_group_id_acd_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["users_uid"],
            ["jtel_users.users_uid"],
            name=op.f("fk_acd_group_members_users_uid_jtel_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "users_uid", name=op.f("pk_acd_group_members")),
    )
    ddl.create_index(
        "ix_acd_group_members_users_uid", "acd_group_members", ["users_uid"], unique=False
    )


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index("ix_acd_group_members_users_uid", table_name="acd_group_members")
    op.drop_table("acd_group_members")
    op.drop_table("user_tombstones")
    op.drop_table("system_parameters")
    op.drop_table("sessions")
    op.drop_table("seen_events")
    op.drop_table("parameter_changes")
    op.drop_table("jtel_users")
    op.drop_table("credentials")
    op.drop_table("batch_lock")
    op.drop_index("ix_audit_events_login", table_name="audit_events")
    op.drop_index("ix_audit_events_event_id", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("acd_groups")
    # ### end Alembic commands ###
