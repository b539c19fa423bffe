"""The unit of work and its repositories on SQLAlchemy Core: one connection, one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from sqlalchemy.orm import InstrumentedAttribute

from ..service.errors import OutcomeUnknown, StoreUnavailable, ValueRefused
from ..service.ports import (
    Account,
    Credential,
    LogEntry,
    ParameterChange,
    SessionRecord,
)
from .cache import WorldCache
from .rows import Rows, db_json
from .tables import (
    CredentialRow,
    EventLogRow,
    ImportRunRow,
    LoginFailureRow,
    ParameterChangeRow,
    ParameterRow,
    SeenEventRow,
    SessionRow,
    UserRow,
)
from .world import SqlWorldRepository, take_write_lock


def _delete_oldest(
    db: Connection,
    key: InstrumentedAttribute[Any],
    stamp: InstrumentedAttribute[Any],
    before: datetime,
    limit: int,
) -> int:
    """Delete up to ``limit`` of the oldest rows dated before ``before``: their keys first, by
    the time index, then exactly those rows, so no range lock falls on what stays. The date is
    checked again in the delete: a row renewed meanwhile (an eventId forgotten and processed
    anew) stays."""
    keys = list(db.scalars(select(key).where(stamp < before).order_by(stamp).limit(limit)))
    if not keys:
        return 0
    return _rowcount(db.execute(delete(key.class_).where(key.in_(keys), stamp < before)))


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _put(db: Connection, key: Any, value: str, columns: dict[str, str]) -> None:
    """Update the row whose ``key`` is ``value``, or insert it (callers hold the write lock
    or run at start, so no other writer inserts the same key meanwhile)."""
    table = key.table
    if not _rowcount(db.execute(update(table).where(key == value).values(columns))):
        db.execute(insert(table).values({key.key: value, **columns}))


class SqlEventLog:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def append(self, entries: Sequence[LogEntry]) -> None:
        rows = Rows(self._db)
        rows.insert(
            "event_log",
            LOG_COLUMNS,
            [
                (
                    rows.time(e.received_at),
                    e.source,
                    e.event_id,
                    e.type,
                    e.login,
                    e.group_id,
                    rows.time(e.occurred_at),
                    e.outcome.value,
                    e.reason,
                    db_json([n.as_json() for n in e.notes]),
                )
                for e in entries
            ],
        )


LOG_COLUMNS = (
    "received_at",
    "source",
    "event_id",
    "type",
    "login",
    "group_id",
    "occurred_at",
    "outcome",
    "reason",
    "notes",
)


class SqlParameterStore:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def values(self) -> dict[str, str]:
        return {
            name: value
            for name, value in self._db.execute(select(ParameterRow.name, ParameterRow.value))
        }

    def put(self, name: str, value: str) -> None:
        _put(self._db, ParameterRow.name, name, {"value": value})

    def record(self, change: ParameterChange) -> None:
        self._db.execute(insert(ParameterChangeRow).values(asdict(change)))


class SqlCredentialStore:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def get(self, role: str) -> Credential | None:
        row = self._db.execute(
            select(CredentialRow.login, CredentialRow.password_hash).where(
                CredentialRow.role == role
            )
        ).first()
        return None if row is None else Credential(role, row.login, row.password_hash)

    def put(self, credential: Credential) -> None:
        values = {"login": credential.login, "password_hash": credential.password_hash}
        _put(self._db, CredentialRow.role, credential.role, values)


_SESSION_COLUMNS = [getattr(SessionRow, f.name) for f in fields(SessionRecord)]


class SqlSessionStore:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, record: SessionRecord) -> None:
        self._db.execute(insert(SessionRow).values(asdict(record)))

    def get(self, token_hash: str) -> SessionRecord | None:
        row = self._db.execute(
            select(*_SESSION_COLUMNS).where(SessionRow.token_hash == token_hash)
        ).first()
        return None if row is None else SessionRecord(*row)

    def touch(self, token_hash: str, now: datetime) -> None:
        self._db.execute(
            update(SessionRow).where(SessionRow.token_hash == token_hash).values(last_used_at=now)
        )

    def touch_many(self, token_hashes: Sequence[str], now: datetime) -> None:
        self._db.execute(
            update(SessionRow)
            .where(SessionRow.token_hash.in_(token_hashes))
            .values(last_used_at=now)
        )

    def remove(self, token_hash: str, kind: str) -> bool:
        result = self._db.execute(
            delete(SessionRow).where(SessionRow.token_hash == token_hash, SessionRow.kind == kind)
        )
        return bool(_rowcount(result))

    def remove_idle(self, kind: str, *, used_before: datetime) -> None:
        self._db.execute(
            delete(SessionRow).where(SessionRow.kind == kind, SessionRow.last_used_at < used_before)
        )

    def remove_all(self, kind: str, subject: str | None = None) -> None:
        query = delete(SessionRow).where(SessionRow.kind == kind)
        if subject is not None:
            query = query.where(SessionRow.subject == subject)
        self._db.execute(query)


class SqlAccountStore:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def get(self, login: str) -> Account | None:
        row = self._db.execute(
            select(
                UserRow.admin, UserRow.password_hash, UserRow.created_at, UserRow.initial_password
            ).where(UserRow.users_uid == login)
        ).first()
        if row is None:
            return None
        return Account(
            login, bool(row.admin), row.password_hash, row.created_at, bool(row.initial_password)
        )

    def set_password_hash(self, login: str, password_hash: str, *, initial: bool = False) -> bool:
        result = self._db.execute(
            update(UserRow)
            .where(UserRow.users_uid == login)
            .values(password_hash=password_hash, initial_password=initial)
        )
        return bool(_rowcount(result))

    def set_initial(self, login: str, initial: bool) -> None:
        self._db.execute(
            update(UserRow).where(UserRow.users_uid == login).values(initial_password=initial)
        )


class SqlLoginFailureStore:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def recent(self, keys: Sequence[str], *, since: datetime) -> dict[str, list[datetime]]:
        found: dict[str, list[datetime]] = {key: [] for key in keys}
        rows = self._db.execute(
            select(LoginFailureRow.key, LoginFailureRow.failed_at).where(
                LoginFailureRow.key.in_(list(keys)), LoginFailureRow.failed_at >= since
            )
        )
        for key, failed_at in rows:
            found[key].append(failed_at)
        return found

    def add(self, keys: Sequence[str], at: datetime) -> None:
        self._db.execute(insert(LoginFailureRow), [{"key": k, "failed_at": at} for k in keys])

    def clear(self, key: str) -> None:
        self._db.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))

    def prune(self, *, before: datetime, limit: int) -> int:
        return _delete_oldest(
            self._db, LoginFailureRow.id, LoginFailureRow.failed_at, before, limit
        )


class SqlImportRunStore:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def running(self, *, started_after: datetime) -> int | None:
        return self._db.scalar(
            select(ImportRunRow.id).where(
                ImportRunRow.status == "running", ImportRunRow.started_at > started_after
            )
        )

    def start(self, *, started_at: datetime, trigger: str, dry_run: bool) -> int:
        result = self._db.execute(
            insert(ImportRunRow).values(
                started_at=started_at, trigger=trigger, dry_run=dry_run, status="running"
            )
        )
        (run_id,) = result.inserted_primary_key or (None,)
        assert run_id is not None
        return int(run_id)

    def finish(
        self, run_id: int, *, status: str, finished_at: datetime, summary: dict[str, Any] | None
    ) -> None:
        self._db.execute(
            update(ImportRunRow)
            .where(ImportRunRow.id == run_id)
            .values(status=status, finished_at=finished_at, summary=summary)
        )


class SqlRetentionStore:
    """Each call reads the ids of one chunk by the time index, then deletes exactly those: a
    statement that deletes a bounded number of rows, and no scan of what stays."""

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def purge_event_log(self, *, received_before: datetime, limit: int) -> int:
        return _delete_oldest(
            self._db, EventLogRow.id, EventLogRow.received_at, received_before, limit
        )

    def purge_event_ids(self, *, seen_before: datetime, limit: int) -> int:
        return _delete_oldest(
            self._db, SeenEventRow.event_id, SeenEventRow.seen_at, seen_before, limit
        )


class SqlUnitOfWork:
    """One connection and one transaction; repositories share it."""

    world: SqlWorldRepository
    log: SqlEventLog
    parameters: SqlParameterStore
    credentials: SqlCredentialStore
    sessions: SqlSessionStore
    accounts: SqlAccountStore
    imports: SqlImportRunStore
    retention: SqlRetentionStore
    login_failures: SqlLoginFailureStore

    def __init__(
        self, engine: Engine, *, locked: bool = False, cache: WorldCache | None = None
    ) -> None:
        self._engine = engine
        self._locked = locked
        self._cache = cache

    def __enter__(self) -> Self:
        try:
            self._connection = self._engine.connect()
        except DBAPIError as exc:
            raise store_error(exc) from exc
        except SQLAlchemyTimeout as exc:  # no connection free in the pool in time
            raise StoreUnavailable("database busy: no connection free in time") from exc
        self._transaction = self._connection.begin()
        db = self._connection
        if self._locked:
            try:
                take_write_lock(db)
            except BaseException as exc:
                self._connection.close()
                if isinstance(exc, DBAPIError):
                    raise store_error(exc) from exc
                raise
        self.world = SqlWorldRepository(db, self._cache if self._locked else None)
        self.log = SqlEventLog(db)
        self.parameters = SqlParameterStore(db)
        self.credentials = SqlCredentialStore(db)
        self.sessions = SqlSessionStore(db)
        self.accounts = SqlAccountStore(db)
        self.imports = SqlImportRunStore(db)
        self.retention = SqlRetentionStore(db)
        self.login_failures = SqlLoginFailureStore(db)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._transaction.is_active:
                self._transaction.rollback()
        except DBAPIError:  # the connection is gone; the transaction went with it
            pass
        finally:
            self._connection.close()
        if isinstance(exc, (DBAPIError, StatementError)):
            raise store_error(exc) from exc

    def commit(self) -> None:
        try:
            self._transaction.commit()
        except DBAPIError as exc:
            if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
                raise OutcomeUnknown(
                    f"the connection to the database broke while committing: {_first_line(exc)}"
                ) from exc
            raise store_error(exc) from exc
        self.world.committed()


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


#: MariaDB/MySQL errors that come as OperationalError but are about a value or a statement's
#: own content (a trigger's SIGNAL, a value out of range), not about the server being away
_MYSQL_REFUSALS = frozenset({1264, 1366, 1406, 1644})


def store_error(exc: BaseException) -> Exception:
    """The service's word for what the database said: unavailable, or a refused value."""
    code = getattr(getattr(exc, "orig", None), "args", (None,))[0]
    refusal = code in _MYSQL_REFUSALS
    if not refusal and (
        isinstance(exc, OperationalError | InterfaceError)
        or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
    ):
        return StoreUnavailable(f"database unavailable: {_first_line(exc)}")
    return ValueRefused(f"the database refused a value: {_first_line(exc)}")


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine, cache: WorldCache | None = None) -> None:
        self.engine = engine
        #: users' states as this process wrote them (see :mod:`.cache`), shared by its writers
        self.cache = cache

    def __call__(self, *, locked: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, locked=locked, cache=self.cache)

    def forget(self) -> None:
        if self.cache is not None:
            self.cache.forget()
