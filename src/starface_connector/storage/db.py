"""Engines, migrations and first-start seeding for SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

from ..domain.parameters import DEFAULTS
from .tables import BatchLockRow, ParameterRow

MIGRATIONS = Path(__file__).with_name("migrations")
SUPPORTED = ("sqlite", "postgresql", "mysql", "mariadb")


class DatabaseError(RuntimeError):
    """The configured database cannot be used; the message is one line for a person."""


def parse_url(raw: str) -> URL:
    """Parse and check a database URL; plain ``postgresql://`` and ``mysql://`` pick our drivers."""
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        shown = re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", raw)  # never echo a password
        raise DatabaseError(
            f"not a database URL: {shown!r} (expected e.g. sqlite:///path/connector.db, "
            "postgresql://user@host/db or mysql://user@host/db)"
        ) from None
    if url.drivername == "postgres":  # Heroku-style and libpq's own spelling
        url = url.set(drivername="postgresql")
    backend = url.get_backend_name()
    if backend not in SUPPORTED:
        raise DatabaseError(
            f"unsupported database {backend!r}: use sqlite, postgresql or mysql/mariadb"
        )
    if backend == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if backend in ("mysql", "mariadb") and "+" not in url.drivername:
        url = url.set(drivername="mysql+pymysql")
    if backend in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def describe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def make_engine(raw_url: str, **kwargs: Any) -> Engine:
    url = parse_url(raw_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    # hide_parameters: bound values (password hashes, names) never reach an error or a log
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": 10,
        "max_overflow": 10,
        "hide_parameters": True,
    }
    options.update(kwargs)
    try:
        engine = create_engine(url, **options)
    except NoSuchModuleError as exc:  # pragma: no cover - drivers are dependencies
        raise DatabaseError(f"no driver for {describe(url)}: {exc}") from None
    return engine


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder for {path}: {exc.strerror}") from None
        url = url.set(database=str(path))
    engine = create_engine(
        url,
        connect_args={"timeout": 60, "check_same_thread": False},
        hide_parameters=True,
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed batch survives a power cut, which is what a 200 promises.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()
        # SQLite's own lower() folds ASCII only; searches must find 'Özdemir' by 'özdemir'
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)

    return engine


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(f"cannot reach database {describe(engine.url)}: {detail}") from None


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", describe(engine.url).replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Apply all migrations, then seed the rows every installation needs.

    Under the migration lock (:func:`migration_lock`), so instances starting at once on one
    database take turns: the first migrates and seeds, the others find the work done. A start
    killed at any statement leaves a database the next start completes: on SQLite and
    PostgreSQL the whole upgrade is one transaction, and on MariaDB, whose DDL commits statement
    by statement, every migration step skips what an interrupted run did already
    (``storage/ddl.py``).
    """
    check_connection(engine)
    with engine.connect() as connection, migration_lock(connection):
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        present = set(connection.scalars(select(ParameterRow.name)))
        missing = [{"name": n, "value": v} for n, v in DEFAULTS.items() if n not in present]
        if missing:
            connection.execute(insert(ParameterRow), missing)
        if connection.scalar(select(BatchLockRow.id).where(BatchLockRow.id == 1)) is None:
            connection.execute(insert(BatchLockRow).values(id=1, batches=0))
        connection.commit()


#: how long a start waits for another instance's migration before it gives up
MIGRATION_LOCK_SECONDS = 600
_LOCK_NAME = "starface_connector.migrate"
#: PostgreSQL advisory locks are keyed by a number (and kept apart per database)
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(_LOCK_NAME.encode()).digest()[:8], "big", signed=True)


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    """Hold the database's migration lock, one instance at a time, and begin the transaction
    the upgrade runs in (the caller commits it).

    * SQLite: ``BEGIN IMMEDIATE`` takes the file's write lock before the first statement (the
      driver would otherwise run DDL outside any transaction), and the whole upgrade is one
      transaction under it; a second start waits in SQLite's busy handler.
    * PostgreSQL: a transaction-scoped advisory lock, released by the commit, or by the server
      when a killed client's connection drops; DDL is transactional.
    * MariaDB/MySQL: ``GET_LOCK`` on a name made from the database's (the lock is server-wide);
      it lasts for the session, across the implicit commits of DDL, and the server releases it
      when a killed client's connection drops.

    Statement timeouts are lifted meanwhile: a migration may rewrite a large table, and the
    wait for the lock is bounded by :data:`MIGRATION_LOCK_SECONDS` instead.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError:  # another writer held the file longer than the busy timeout
            raise _lock_busy(connection) from None
        yield
        return
    if dialect == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_SECONDS}s'")
        try:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise _lock_busy(connection) from None
            raise
        yield
        return
    mariadb = bool(getattr(connection.dialect, "is_mariadb", False))
    database = str(connection.scalar(text("SELECT DATABASE()")))
    name = f"{_LOCK_NAME}.{hashlib.sha256(database.encode()).hexdigest()[:32]}"  # <= 64 chars
    timeout = None
    if mariadb:
        timeout = connection.scalar(text("SELECT @@SESSION.max_statement_time"))
        connection.exec_driver_sql("SET SESSION max_statement_time = 0")
    locked = False
    try:
        locked = (
            connection.scalar(
                text("SELECT GET_LOCK(:name, :seconds)"),
                {"name": name, "seconds": MIGRATION_LOCK_SECONDS},
            )
            == 1
        )
        if not locked:
            raise _lock_busy(connection)
        yield
    finally:
        try:
            connection.rollback()  # a failed upgrade's transaction; nothing after the commit
            if locked:
                connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
            if timeout is not None:
                connection.execute(
                    text("SET SESSION max_statement_time = :seconds"), {"seconds": timeout}
                )
            connection.commit()
        except DBAPIError:
            # never hand a connection that may still hold the lock back to the pool:
            # closing it releases the lock on the server
            connection.invalidate()


def _lock_busy(connection: Connection) -> DatabaseError:
    return DatabaseError(
        f"gave up waiting for the migration lock of {describe(connection.engine.url)}: another "
        "instance is migrating it or holds it; try again when it has finished"
    )


@dataclass(frozen=True)
class Readiness:
    database: str
    schema: str

    @property
    def ok(self) -> bool:
        return self.database == "ok" and self.schema == "current"


def check_readiness(engine: Engine) -> Readiness:
    """Whether the database answers and carries the newest migration."""
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except DBAPIError:
        return Readiness("unreachable", "unknown")
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    return Readiness("ok", "current" if current == head else f"at {current}, expected {head}")
