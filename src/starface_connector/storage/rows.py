"""Bulk writes for the event path: plain SQL built once, ``executemany`` with plain tuples.

SQLAlchemy's per-value bind processing (a Python call per datetime and JSON value of every
row) was the largest cost of writing a batch of events. Here the values are converted once,
by hand, to what each driver takes, and the rows go to the driver as tuples. The conversions
are those the tables' types would do: UTC datetimes stored naive (as SQLite's text form there),
JSON as text, so reading through SQLAlchemy sees no difference.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection


def db_time(moment: datetime | None, sqlite: bool) -> Any:
    """A UTC datetime as its column stores it (see ``tables.UTCDateTime``)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(" ", "microseconds") if sqlite else naive


def db_json(value: Any) -> str:
    return orjson.dumps(value).decode()


class Rows:
    """Writes rows of one connection's database with a statement text built once."""

    def __init__(self, connection: Connection) -> None:
        self._db = connection
        self.sqlite = connection.dialect.name == "sqlite"

    def time(self, moment: datetime | None) -> Any:
        return db_time(moment, self.sqlite)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            sql = _insert(table, tuple(columns), self._db.dialect.name)
            self._db.exec_driver_sql(sql, list(rows))

    def update(
        self, table: str, columns: Sequence[str], key: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """``rows`` hold the new values in the order of ``columns``, then the key's value."""
        if rows:
            sql = _update(table, tuple(columns), key, self._db.dialect.name)
            self._db.exec_driver_sql(sql, list(rows))


#: columns of type JSON: PostgreSQL is told so, the others take the text as it is
JSON_COLUMNS = frozenset({"phone_numbers", "notes", "summary"})


def _mark(column: str, dialect: str) -> str:
    if dialect == "sqlite":
        return "?"
    return "%s::json" if dialect == "postgresql" and column in JSON_COLUMNS else "%s"


@functools.cache
def _insert(table: str, columns: tuple[str, ...], dialect: str) -> str:
    marks = ", ".join(_mark(column, dialect) for column in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


@functools.cache
def _update(table: str, columns: tuple[str, ...], key: str, dialect: str) -> str:
    assignments = ", ".join(f"{column} = {_mark(column, dialect)}" for column in columns)
    return f"UPDATE {table} SET {assignments} WHERE {key} = {_mark(key, dialect)}"
