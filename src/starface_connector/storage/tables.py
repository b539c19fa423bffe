"""SQLAlchemy tables of the jtel-side store; Alembic migrations in ``migrations/`` mirror them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC with microseconds on every backend, hands out aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def exact_collation(dialect: Dialect) -> str:
    """MariaDB/MySQL collation that compares byte for byte (NO PAD on MariaDB)."""
    return "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_bin"


class Key(TypeDecorator[str]):
    """An identifier from STARFACE (Login-ID, eventId, group id): equal only if identical.

    MariaDB's default collation folds case, accents and trailing spaces, which would make
    'anna', 'Anna', 'änna' and 'anna ' one primary key there while they are four everywhere
    else; key columns therefore use a binary collation on MariaDB and MySQL.
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        length = cast(String, self.impl_instance).length
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(
                mysql.VARCHAR(length, collation=exact_collation(dialect))
            )
        return dialect.type_descriptor(String(length))


#: text without a length limit on every backend: TEXT, but LONGTEXT on MariaDB and MySQL
LONG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserRow(Base):
    __tablename__ = "jtel_users"

    users_uid: Mapped[str] = mapped_column(Key(128), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(32))
    phone_numbers: Mapped[list[str]] = mapped_column(JSON)
    admin: Mapped[bool] = mapped_column(Boolean)
    password_hash: Mapped[str] = mapped_column(String(255))
    acd_status: Mapped[str] = mapped_column(String(20))
    phone_status: Mapped[str] = mapped_column(String(20))
    profile_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acd_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    phone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dnd: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    dnd_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the PAUSE came from STARFACE (QUEUE_PAUSE or DND), so leaving that state resumes
    acd_paused_by_pbx: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: the password is still the initial one, the UsersUID (learnt at each sign-in)
    initial_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class TombstoneRow(Base):
    """When a user was deleted, so a late, older USER_UPDATE cannot bring them back."""

    __tablename__ = "user_tombstones"

    users_uid: Mapped[str] = mapped_column(Key(128), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GroupRow(Base):
    __tablename__ = "acd_groups"

    group_id: Mapped[str] = mapped_column(Key(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GroupMemberRow(Base):
    __tablename__ = "acd_group_members"

    group_id: Mapped[str] = mapped_column(
        Key(128), ForeignKey("acd_groups.group_id", ondelete="CASCADE"), primary_key=True
    )
    users_uid: Mapped[str] = mapped_column(
        Key(128), ForeignKey("jtel_users.users_uid", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_acd_group_members_users_uid", "users_uid"),)


class ParameterRow(Base):
    __tablename__ = "system_parameters"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))


class ParameterChangeRow(Base):
    __tablename__ = "parameter_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(128))
    old_value: Mapped[str] = mapped_column(String(64))
    new_value: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))


class SeenEventRow(Base):
    """Every eventId processed within the retention window (``purge``): the idempotency key."""

    __tablename__ = "seen_events"

    event_id: Mapped[str] = mapped_column(Key(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_seen_events_seen_at", "seen_at"),)


class EventLogRow(Base):
    """Every event received, with what it did and why; also import and manual changes."""

    __tablename__ = "event_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str | None] = mapped_column(Key(128))
    type: Mapped[str | None] = mapped_column(String(32))
    login: Mapped[str | None] = mapped_column(Key(128))
    group_id: Mapped[str | None] = mapped_column(Key(128))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    #: unbounded: a group's reason names its members (MariaDB's TEXT would end at 64 KiB)
    reason: Mapped[str] = mapped_column(LONG_TEXT)
    #: the reason as data ([{"why", "args"}]), for translated rendering; None on old rows
    notes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_event_log_login", "login"),
        Index("ix_event_log_event_id", "event_id"),
        Index("ix_event_log_received_at", "received_at"),
    )


class CredentialRow(Base):
    """Built-in accounts: the STARFACE module account and jtel's sysadmin."""

    __tablename__ = "credentials"

    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    login: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255))


class SessionRow(Base):
    """STARFACE module sessions and API tokens, kept by the SHA-256 of their value only."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BatchLockRow(Base):
    """One row that every event batch locks first, so concurrent batches never lose updates."""

    __tablename__ = "batch_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    batches: Mapped[int] = mapped_column(BigInteger)


class ImportRunRow(Base):
    """One import from STARFACE: the lease that keeps two imports apart, and its summary."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(32))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class LoginFailureRow(Base):
    """One failed login, under the SHA-256 of what it counts against (a source address or an
    account): what login throttling decides by, in every instance alike. Rows older than an
    hour or two no longer matter and are deleted as new ones are written."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_login_failures_key", "key", "failed_at"),
        Index("ix_login_failures_failed_at", "failed_at"),
    )
