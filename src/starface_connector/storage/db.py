"""Engines, migrations and first-start seeding for SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, insert, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

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
    """Apply all migrations, then seed the rows every installation needs."""
    check_connection(engine)
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with engine.begin() as connection:
        present = set(connection.scalars(select(ParameterRow.name)))
        missing = [{"name": n, "value": v} for n, v in DEFAULTS.items() if n not in present]
        if missing:
            connection.execute(insert(ParameterRow), missing)
        if connection.scalar(select(BatchLockRow.id).where(BatchLockRow.id == 1)) is None:
            connection.execute(insert(BatchLockRow).values(id=1, batches=0))


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
