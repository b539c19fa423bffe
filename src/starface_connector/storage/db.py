"""Engines, migrations and first-start seeding for SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import hashlib
import math
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
from . import deadline
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


#: the standard bound on each wait for the database: connecting, one statement, a free
#: pooled connection (``--database-timeout``)
DEFAULT_TIMEOUT = 5.0
#: how much longer than the server's own statement timeout the client waits for an answer
#: before it gives the connection up: the server's error is the better answer, this is for
#: a network that swallows packets
CLIENT_GRACE = 0.5
POOL_SIZE = 10
MAX_OVERFLOW = 10


def make_engine(raw_url: str, *, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any) -> Engine:
    """An engine whose every wait is bounded by ``timeout`` seconds (connect, statement, pool
    checkout), so a database fault becomes an error the API answers 503, never a hang."""
    url = parse_url(raw_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, timeout, **kwargs)
    # hide_parameters: bound values (password hashes, names) never reach an error or a log
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": POOL_SIZE,
        "max_overflow": MAX_OVERFLOW,
        "pool_timeout": timeout,
        "hide_parameters": True,
    }
    postgresql = url.get_backend_name() == "postgresql"
    if postgresql:
        options["connect_args"] = _postgresql_limits(url, timeout)
    else:
        options["connect_args"] = {
            "connect_timeout": timeout,
            "read_timeout": timeout + CLIENT_GRACE,
            "write_timeout": timeout + CLIENT_GRACE,
        }
    options.update(kwargs)
    try:
        engine = create_engine(url, **options)
    except NoSuchModuleError as exc:  # pragma: no cover - drivers are dependencies
        raise DatabaseError(f"no driver for {describe(url)}: {exc}") from None
    if postgresql:
        deadline.guard(engine, timeout + CLIENT_GRACE)
    else:
        _mysql_statement_limit(engine, timeout)
    return engine


def _postgresql_limits(url: URL, timeout: float) -> dict[str, Any]:
    """libpq's connect timeout (whole seconds, at least 2), the server's statement timeout,
    and keepalives plus ``tcp_user_timeout`` so a peer gone silent is noticed in about
    ``timeout`` seconds, also on a connection idle in the pool."""
    seconds = max(2, math.ceil(timeout))
    options = f"-c statement_timeout={round(timeout * 1000)}"
    given = url.query.get("options")
    if isinstance(given, str) and given:
        options = f"{given} {options}"
    return {
        "connect_timeout": seconds,
        "options": options,
        "keepalives": 1,
        "keepalives_idle": seconds,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": round(timeout * 1000),
    }


def _mysql_statement_limit(engine: Engine, timeout: float) -> None:
    """The server ends a statement running longer than ``timeout``: MariaDB's
    ``max_statement_time`` counts lock waits too; MySQL's ``max_execution_time`` only
    SELECTs (its lock waits end after ``innodb_lock_wait_timeout``)."""

    @event.listens_for(engine, "connect")
    def _limit(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if getattr(engine.dialect, "is_mariadb", False):
            cursor.execute(f"SET SESSION max_statement_time = {timeout:.3f}")
        else:
            cursor.execute(f"SET SESSION max_execution_time = {round(timeout * 1000)}")
        cursor.close()


def _sqlite_engine(url: URL, timeout: float, **kwargs: Any) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(f"cannot create the folder for {path}: {exc.strerror}") from None
        url = url.set(database=str(path))
    options: dict[str, Any] = {
        # a writer waits for another's write lock at most this long (SQLite's busy timeout)
        "connect_args": {"timeout": timeout, "check_same_thread": False},
        "hide_parameters": True,
    }
    if database and database != ":memory:":
        options.update(pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_timeout=timeout)
    options.update(kwargs)
    engine = create_engine(url, **options)
    busy = round(timeout * 1000)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed batch survives a power cut, which is what a 200 promises.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy}")
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

    Statement timeouts (the server's and the client's, see :func:`make_engine`) are lifted
    meanwhile: a migration may rewrite a large table, and the wait for the lock is bounded by
    :data:`MIGRATION_LOCK_SECONDS` instead.
    """
    dialect = connection.dialect.name
    dbapi: Any = connection.connection.dbapi_connection
    if dialect == "sqlite":
        busy = dbapi.execute("PRAGMA busy_timeout").fetchone()[0]
        dbapi.execute(f"PRAGMA busy_timeout={MIGRATION_LOCK_SECONDS * 1000}")
        try:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError:  # another writer held the file longer than that
                raise _lock_busy(connection) from None
            yield
        finally:
            dbapi.execute(f"PRAGMA busy_timeout={int(busy)}")
        return
    if dialect == "postgresql":
        with deadline.lifted(dbapi):
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_SECONDS}s'")
            try:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                    raise _lock_busy(connection) from None
                raise
            yield
        return
    with _no_client_timeouts(dbapi):
        yield from _mysql_migration_lock(connection)


@contextmanager
def _no_client_timeouts(dbapi: Any) -> Iterator[None]:
    """PyMySQL's read and write timeouts off for one connection, then back."""
    saved = (getattr(dbapi, "_read_timeout", None), getattr(dbapi, "_write_timeout", None))
    if dbapi is not None:
        dbapi._read_timeout = dbapi._write_timeout = None
    try:
        yield
    finally:
        if dbapi is not None:
            dbapi._read_timeout, dbapi._write_timeout = saved


def _mysql_migration_lock(connection: Connection) -> Iterator[None]:
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
