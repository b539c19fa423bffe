"""What the service layer needs from the outside world, as protocols and plain records.

The services speak only to these: a unit of work (one transaction) with its repositories, a
clock and a password hasher. ``storage/`` implements them on SQLAlchemy; the unit tests use
in-memory fakes. Nothing here knows SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self

from ..domain.model import Outcome
from ..domain.reasons import Note
from ..domain.rules import World


class Clock(Protocol):
    """The time, always timezone-aware UTC; tests pass a clock they can move."""

    def __call__(self) -> datetime: ...


class Source(StrEnum):
    """Who caused an event log entry."""

    STARFACE = "starface"
    IMPORT = "import"
    API = "api"
    CONSOLE = "console"
    CLI = "cli"


@dataclass(frozen=True)
class LogEntry:
    """One line of the event log: every event received, with its outcome and why."""

    received_at: datetime
    source: str
    event_id: str | None
    type: str | None
    login: str | None
    group_id: str | None
    occurred_at: datetime | None
    outcome: Outcome
    notes: tuple[Note, ...]
    reason: str


@dataclass(frozen=True)
class Credential:
    """A built-in account: the STARFACE module account or jtel's sysadmin."""

    role: str
    login: str
    password_hash: str


@dataclass(frozen=True)
class SessionRecord:
    """A module session or an API token, known by the SHA-256 of its value only."""

    token_hash: str
    kind: str
    subject: str
    created_at: datetime
    last_used_at: datetime


@dataclass(frozen=True)
class Account:
    """What signing in as a jtel user needs to know about that user."""

    login: str
    admin: bool
    password_hash: str
    created_at: datetime
    #: the password is still the initial one, the UsersUID (as the last sign-in found)
    initial_password: bool = False


@dataclass(frozen=True)
class ParameterChange:
    changed_at: datetime
    name: str
    old_value: str
    new_value: str
    actor: str


class WorldRepository(Protocol):
    """The rules' working set, moved between the database and memory in bulk."""

    def load(
        self, *, event_ids: Iterable[str], logins: Iterable[str], group_ids: Iterable[str]
    ) -> World: ...

    def load_all(self) -> World: ...

    def persist(
        self, before: World, after: World, *, password_hashes: Mapping[str, str], now: datetime
    ) -> None: ...

    def writers(self) -> int | None:
        """How many write transactions ever took the write lock (a conflict detector)."""
        ...


class EventLog(Protocol):
    def append(self, entries: Sequence[LogEntry]) -> None: ...


class ParameterStore(Protocol):
    def values(self) -> dict[str, str]: ...

    def put(self, name: str, value: str) -> None: ...

    def record(self, change: ParameterChange) -> None: ...


class CredentialStore(Protocol):
    def get(self, role: str) -> Credential | None: ...

    def put(self, credential: Credential) -> None: ...


class SessionStore(Protocol):
    def add(self, record: SessionRecord) -> None: ...

    def get(self, token_hash: str) -> SessionRecord | None: ...

    def touch(self, token_hash: str, now: datetime) -> None: ...

    def touch_many(self, token_hashes: Sequence[str], now: datetime) -> None: ...

    def remove(self, token_hash: str, kind: str) -> bool: ...

    def remove_idle(self, kind: str, *, used_before: datetime) -> None: ...

    def remove_all(self, kind: str, subject: str | None = None) -> None: ...


class AccountStore(Protocol):
    def get(self, login: str) -> Account | None: ...

    def set_password_hash(self, login: str, password_hash: str, *, initial: bool = False) -> bool:
        """Store a new hash and whether that password is the initial one; False if no user."""
        ...

    def set_initial(self, login: str, initial: bool) -> None: ...


class LoginFailureStore(Protocol):
    """Failed logins by key (the SHA-256 of a source address or an account), for throttling."""

    def recent(self, keys: Sequence[str], *, since: datetime) -> dict[str, list[datetime]]:
        """The failure times of each key since then (every key present, maybe empty)."""
        ...

    def add(self, keys: Sequence[str], at: datetime) -> None: ...

    def clear(self, key: str) -> None: ...

    def prune(self, *, before: datetime, limit: int) -> int:
        """Delete at most ``limit`` of the oldest failures before then; how many went."""
        ...


class ImportRunStore(Protocol):
    def running(self, *, started_after: datetime) -> int | None: ...

    def start(self, *, started_at: datetime, trigger: str, dry_run: bool) -> int: ...

    def finish(
        self, run_id: int, *, status: str, finished_at: datetime, summary: dict[str, Any] | None
    ) -> None: ...


class RetentionStore(Protocol):
    """Deletes what is older than a retention window, oldest first, a bounded chunk at a time."""

    def purge_event_log(self, *, received_before: datetime, limit: int) -> int:
        """Delete at most ``limit`` of the oldest event log entries received before then;
        returns how many were deleted."""
        ...

    def purge_event_ids(self, *, seen_before: datetime, limit: int) -> int:
        """Forget at most ``limit`` of the oldest processed eventIds seen before then;
        returns how many were forgotten."""
        ...


class UnitOfWork(Protocol):
    """One transaction: ``with uow: ... uow.commit()``; leaving without commit rolls back."""

    @property
    def world(self) -> WorldRepository: ...
    @property
    def log(self) -> EventLog: ...
    @property
    def parameters(self) -> ParameterStore: ...
    @property
    def credentials(self) -> CredentialStore: ...
    @property
    def sessions(self) -> SessionStore: ...
    @property
    def accounts(self) -> AccountStore: ...
    @property
    def imports(self) -> ImportRunStore: ...
    @property
    def retention(self) -> RetentionStore: ...
    @property
    def login_failures(self) -> LoginFailureStore: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work; ``locked`` makes it take the connector-wide write lock first,
    so it serialises with every other writer, in this process and in other instances."""

    def __call__(self, *, locked: bool = False) -> UnitOfWork: ...
