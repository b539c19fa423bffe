"""Schema steps for the migrations that can run again: each looks before it changes anything.

MariaDB commits every DDL statement on its own, so a migration that was killed half-way
leaves some of its steps done and its version not yet stamped. The next start runs that
migration again from its first step; with these helpers a step that is already done is
skipped, one that is not is done, and the migration completes. On SQLite and PostgreSQL the
whole upgrade is one transaction anyway (``storage.db.upgrade``); the checks cost a few
catalog reads there and change nothing.

Only for use inside an Alembic migration (they act through ``alembic.op``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op


def _inspector() -> sa.Inspector:
    # a fresh inspector each time: a cached one would not see the step just done
    return sa.inspect(op.get_bind())


def has_table(name: str) -> bool:
    return _inspector().has_table(name)


def column_names(table: str) -> set[str]:
    return {column["name"] for column in _inspector().get_columns(table)}


def index_names(table: str) -> set[str]:
    return {str(index["name"]) for index in _inspector().get_indexes(table)}


def foreign_key_names(table: str) -> set[str]:
    return {str(fk["name"]) for fk in _inspector().get_foreign_keys(table)}


def create_table(name: str, *elements: Any, **kwargs: Any) -> None:
    if not has_table(name):
        op.create_table(name, *elements, **kwargs)


def create_index(name: str, table: str, columns: Sequence[str], **kwargs: Any) -> None:
    if name not in index_names(table):
        op.create_index(name, table, list(columns), **kwargs)


def drop_index(name: str, table: str) -> None:
    if name in index_names(table):
        op.drop_index(name, table_name=table)


def add_column(table: str, column: sa.Column[Any]) -> None:
    if column.name not in column_names(table):
        op.add_column(table, column)


def drop_column(table: str, name: str) -> None:
    if name in column_names(table):
        op.drop_column(table, name)


def drop_foreign_key(name: str, table: str) -> None:
    if name in foreign_key_names(table):
        op.drop_constraint(name, table, type_="foreignkey")


def create_foreign_key(
    name: str, table: str, referred: str, local: Sequence[str], remote: Sequence[str], **kw: Any
) -> None:
    if name not in foreign_key_names(table):
        op.create_foreign_key(name, table, referred, list(local), list(remote), **kw)


def rename_table(old: str, new: str) -> None:
    """Rename ``old`` to ``new``, unless that was done already."""
    if has_table(old) and not has_table(new):
        op.rename_table(old, new)


def rename_index(table: str, old: str, new: str, columns: Sequence[str]) -> None:
    """Rename an index of ``table``, unless that was done already (SQLite cannot rename an
    index: there it is dropped and created again)."""
    present = index_names(table)
    if old not in present:
        if new not in present:
            op.create_index(new, table, list(columns))
        return
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(f"ALTER INDEX {old} RENAME TO {new}")
    elif dialect in ("mysql", "mariadb"):
        op.execute(f"ALTER TABLE {table} RENAME INDEX {old} TO {new}")
    else:
        op.drop_index(old, table_name=table)
        op.create_index(new, table, list(columns))


def rename_primary_key(table: str, old: str, new: str) -> None:
    """PostgreSQL names a primary key; MariaDB calls every one PRIMARY, SQLite none."""
    if op.get_bind().dialect.name != "postgresql":
        return
    if _inspector().get_pk_constraint(table).get("name") == old:
        op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}")
