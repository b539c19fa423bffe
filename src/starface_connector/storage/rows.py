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
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("naive datetime given to a UTC column")
    if offset:
        moment = moment.astimezone(UTC)
    if sqlite:  # the text without its "+00:00": cheaper than replace(tzinfo=None) first
        return moment.isoformat(" ", "microseconds")[:-6]
    return moment.replace(tzinfo=None)


def db_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def from_db_time(value: Any) -> datetime | None:
    """A UTC datetime as read back: SQLite's text form, or a naive datetime elsewhere."""
    if value is None:
        return None
    if isinstance(value, str):  # naive UTC text; parsing the offset beats a replace() 5:1
        return datetime.fromisoformat(value + "+00:00")
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)


def from_db_json(value: Any) -> Any:
    """JSON as read back: text (SQLite, MariaDB), or already decoded (PostgreSQL)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


class Rows:
    """Reads and writes rows of one connection's database with statement texts built once."""

    def __init__(self, connection: Connection) -> None:
        self._db = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self._last: tuple[datetime | None, Any] = (None, None)

    def time(self, moment: datetime | None) -> Any:
        """As :func:`db_time`; the same moment many times over (a batch's ``now``) once."""
        if moment is not self._last[0]:
            self._last = (moment, db_time(moment, self.sqlite))
        return self._last[1]

    def select(self, head: str, key: str | None = None, keys: Sequence[str] = ()) -> list[Any]:
        """``head`` (a SELECT ... FROM ...), for the rows whose ``key`` is one of ``keys``
        (every row when ``key`` is None). Plain tuples, values as the driver gives them."""
        if key is None:
            return list(self._db.exec_driver_sql(head).fetchall())
        if not keys:
            return []
        mark = "?" if self.sqlite else "%s"
        sql = f"{head} WHERE {key} IN ({', '.join([mark] * len(keys))})"
        return list(self._db.exec_driver_sql(sql, tuple(keys)).fetchall())

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
