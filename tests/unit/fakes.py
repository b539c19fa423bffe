"""In-memory stand-ins for the service layer's ports: a unit of work without a database.

A :class:`FakeDatabase` holds committed state; each :class:`FakeUnitOfWork` works on a copy
and publishes it on ``commit``, so leaving without a commit loses everything, as a real
transaction's rollback does. Locked units of work count writers like the real write lock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from starface_connector.domain.parameters import DEFAULTS
from starface_connector.domain.rules import World
from starface_connector.service.ports import (
    Account,
    Credential,
    LogEntry,
    ParameterChange,
    SessionRecord,
)


@dataclass
class StoredUser:
    password_hash: str
    created_at: datetime
    initial_password: bool = False


@dataclass
class ImportRun:
    id: int
    started_at: datetime
    trigger: str
    dry_run: bool
    status: str = "running"
    finished_at: datetime | None = None
    summary: dict[str, Any] | None = None


@dataclass
class State:
    world: World = field(default_factory=World)
    accounts: dict[str, StoredUser] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    parameter_changes: list[ParameterChange] = field(default_factory=list)
    credentials: dict[str, Credential] = field(default_factory=dict)
    sessions: dict[str, SessionRecord] = field(default_factory=dict)
    imports: list[ImportRun] = field(default_factory=list)
    login_failures: list[tuple[str, datetime]] = field(default_factory=list)
    writers: int = 0


class FakeDatabase:
    def __init__(self) -> None:
        self.state = State()
        self.commits = 0


class FakeWorld:
    def __init__(self, state: State) -> None:
        self._state = state

    def load(
        self, *, event_ids: Iterable[str], logins: Iterable[str], group_ids: Iterable[str]
    ) -> World:
        stored = self._state.world
        wanted_logins, wanted_groups = set(logins), set(group_ids)
        return World(
            users={k: v for k, v in stored.users.items() if k in wanted_logins},
            deleted_at={k: v for k, v in stored.deleted_at.items() if k in wanted_logins},
            groups={k: v for k, v in stored.groups.items() if k in wanted_groups},
            seen=stored.seen & set(event_ids),
        )

    def load_all(self) -> World:
        stored = self._state.world
        return World(dict(stored.users), dict(stored.deleted_at), dict(stored.groups), set())

    def persist(
        self, before: World, after: World, *, password_hashes: Mapping[str, str], now: datetime
    ) -> None:
        stored = self._state.world
        for login in before.users.keys() - after.users.keys():
            stored.users.pop(login, None)
            self._state.accounts.pop(login, None)
            for gid, group in stored.groups.items():
                stored.groups[gid] = replace(
                    group, members=tuple(m for m in group.members if m != login)
                )
        for login, user in after.users.items():
            if before.users.get(login) != user or login in password_hashes:
                stored.users[login] = user
            if login in password_hashes:
                self._state.accounts[login] = StoredUser(password_hashes[login], now)
        stored.deleted_at.update(after.deleted_at)
        for gid, group in after.groups.items():
            if before.groups.get(gid) != group:
                old = set(before.groups[gid].members) if gid in before.groups else set()
                kept = set(stored.groups[gid].members) - old if gid in stored.groups else set()
                stored.groups[gid] = replace(
                    group, members=tuple(sorted(kept | set(group.members)))
                )
        stored.seen |= after.seen - before.seen

    def writers(self) -> int | None:
        return self._state.writers


class FakeLog:
    def __init__(self, state: State) -> None:
        self._state = state

    def append(self, entries: Sequence[LogEntry]) -> None:
        self._state.log.extend(entries)


class FakeParameters:
    def __init__(self, state: State) -> None:
        self._state = state

    def values(self) -> dict[str, str]:
        return dict(self._state.parameters)

    def put(self, name: str, value: str) -> None:
        self._state.parameters[name] = value

    def record(self, change: ParameterChange) -> None:
        self._state.parameter_changes.append(change)


class FakeCredentials:
    def __init__(self, state: State) -> None:
        self._state = state

    def get(self, role: str) -> Credential | None:
        return self._state.credentials.get(role)

    def put(self, credential: Credential) -> None:
        self._state.credentials[credential.role] = credential


class FakeSessions:
    def __init__(self, state: State) -> None:
        self._state = state

    def add(self, record: SessionRecord) -> None:
        self._state.sessions[record.token_hash] = record

    def get(self, token_hash: str) -> SessionRecord | None:
        return self._state.sessions.get(token_hash)

    def touch(self, token_hash: str, now: datetime) -> None:
        record = self._state.sessions[token_hash]
        self._state.sessions[token_hash] = replace(record, last_used_at=now)

    def touch_many(self, token_hashes: Sequence[str], now: datetime) -> None:
        for token_hash in token_hashes:
            if token_hash in self._state.sessions:
                self.touch(token_hash, now)

    def remove(self, token_hash: str, kind: str) -> bool:
        record = self._state.sessions.get(token_hash)
        if record is None or record.kind != kind:
            return False
        del self._state.sessions[token_hash]
        return True

    def remove_idle(self, kind: str, *, used_before: datetime) -> None:
        self._remove(lambda r: r.kind == kind and r.last_used_at < used_before)

    def remove_all(self, kind: str, subject: str | None = None) -> None:
        self._remove(lambda r: r.kind == kind and subject in (None, r.subject))

    def _remove(self, doomed: Any) -> None:
        self._state.sessions = {k: r for k, r in self._state.sessions.items() if not doomed(r)}


class FakeAccounts:
    def __init__(self, state: State) -> None:
        self._state = state

    def get(self, login: str) -> Account | None:
        user = self._state.world.users.get(login)
        stored = self._state.accounts.get(login)
        if user is None or stored is None:
            return None
        return Account(
            login, user.admin, stored.password_hash, stored.created_at, stored.initial_password
        )

    def set_password_hash(self, login: str, password_hash: str, *, initial: bool = False) -> bool:
        stored = self._state.accounts.get(login)
        if stored is None:
            return False
        stored.password_hash, stored.initial_password = password_hash, initial
        return True

    def set_initial(self, login: str, initial: bool) -> None:
        if login in self._state.accounts:
            self._state.accounts[login].initial_password = initial


class FakeLoginFailures:
    def __init__(self, state: State) -> None:
        self._state = state

    def recent(self, keys: Sequence[str], *, since: datetime) -> dict[str, list[datetime]]:
        found: dict[str, list[datetime]] = {key: [] for key in keys}
        for key, at in self._state.login_failures:
            if key in found and at >= since:
                found[key].append(at)
        return found

    def add(self, keys: Sequence[str], at: datetime) -> None:
        self._state.login_failures.extend((key, at) for key in keys)

    def clear(self, key: str) -> None:
        self._state.login_failures = [f for f in self._state.login_failures if f[0] != key]

    def prune(self, *, before: datetime, limit: int) -> int:
        doomed = sorted(
            (f for f in self._state.login_failures if f[1] < before), key=lambda f: f[1]
        )
        gone = set(map(id, doomed[:limit]))
        self._state.login_failures = [f for f in self._state.login_failures if id(f) not in gone]
        return len(gone)


class FakeImports:
    def __init__(self, state: State) -> None:
        self._state = state

    def running(self, *, started_after: datetime) -> int | None:
        for run in self._state.imports:
            if run.status == "running" and run.started_at > started_after:
                return run.id
        return None

    def start(self, *, started_at: datetime, trigger: str, dry_run: bool) -> int:
        run = ImportRun(len(self._state.imports) + 1, started_at, trigger, dry_run)
        self._state.imports.append(run)
        return run.id

    def finish(
        self, run_id: int, *, status: str, finished_at: datetime, summary: dict[str, Any] | None
    ) -> None:
        run = self._state.imports[run_id - 1]
        run.status, run.finished_at, run.summary = status, finished_at, summary


class FakeUnitOfWork:
    def __init__(self, database: FakeDatabase, *, locked: bool) -> None:
        self._database = database
        self._locked = locked

    def __enter__(self) -> Self:
        self._state = copy.deepcopy(self._database.state)
        if self._locked:
            self._state.writers += 1
        self.world = FakeWorld(self._state)
        self.log = FakeLog(self._state)
        self.parameters = FakeParameters(self._state)
        self.credentials = FakeCredentials(self._state)
        self.sessions = FakeSessions(self._state)
        self.accounts = FakeAccounts(self._state)
        self.imports = FakeImports(self._state)
        self.login_failures = FakeLoginFailures(self._state)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Without a commit, the copy is dropped: a rollback."""

    def commit(self) -> None:
        self._database.state = self._state
        self._database.commits += 1
        self._state = copy.deepcopy(self._state)


class FakeUnitOfWorkFactory:
    def __init__(self) -> None:
        self.database = FakeDatabase()
        #: run one each, in order, just before the next locked units of work open: what other
        #: writers (live events, another instance) commit meanwhile
        self.before_locked: list[Callable[[], object]] = []
        #: how many units of work were opened (read-only ones too)
        self.opened = 0

    def __call__(self, *, locked: bool = False) -> FakeUnitOfWork:
        self.opened += 1
        if locked and self.before_locked:
            self.before_locked.pop(0)()
        return FakeUnitOfWork(self.database, locked=locked)

    @property
    def state(self) -> State:
        return self.database.state


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
