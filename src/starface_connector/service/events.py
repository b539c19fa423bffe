"""The event path: screen, decide and persist a batch in one unit of work."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timedelta

from ..domain.model import Change, CreateUser, Event, Outcome, PasswordPolicy
from ..domain.parameters import Parameters, read_parameters
from ..domain.reasons import Note, Why, english, note
from ..domain.rules import STANDARD_LIMITS, Limits, World, apply, decide
from .ports import Clock, LogEntry, Source, UnitOfWork, UnitOfWorkFactory
from .security import PasswordHasher, random_password

MAX_CLOCK_AHEAD = timedelta(hours=24)


@dataclass(frozen=True)
class Malformed:
    """An event that could not be read; it is rejected and logged, the batch goes on."""

    event_id: str | None
    type: str | None
    login: str | None
    notes: tuple[Note, ...]

    @property
    def reason(self) -> str:
        return english(self.notes)


Incoming = Event | Malformed


@dataclass(frozen=True)
class EventResult:
    event_id: str | None
    outcome: Outcome
    notes: tuple[Note, ...]
    changes: tuple[Change, ...] = ()
    withheld: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return english(self.notes)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class EventService:
    """Applies STARFACE event batches: each atomically, answered only after its commit."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        limits: Limits = STANDARD_LIMITS,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._limits = limits

    def apply_batch(
        self, incoming: Sequence[Incoming], *, source: str = Source.STARFACE
    ) -> list[EventResult]:
        """Apply a batch atomically; returns one result per event, in order, after the commit."""
        screened = [
            screen(not_too_far_ahead(item, self._clock() + MAX_CLOCK_AHEAD)) for item in incoming
        ]
        events = [item for item in screened if not isinstance(item, Malformed)]
        with self._uow(locked=True) as uow:
            params = read_parameters(uow.parameters.values())[0]
            world = uow.world.load(
                event_ids=(e.event_id for e in events),
                logins=(login for e in events for login in e.logins),
                group_ids=(e.group_id for e in events if e.group_id is not None),
            )
            results = run_batch(
                uow,
                world,
                screened,
                params,
                now=self._clock(),
                hasher=self._hasher,
                source=source,
                limits=self._limits,
            )
            uow.commit()
        return results


def run_batch(
    uow: UnitOfWork,
    world: World,
    incoming: Sequence[Incoming],
    params: Parameters,
    *,
    now: datetime,
    hasher: PasswordHasher,
    source: str,
    reconcile: bool = False,
    limits: Limits = STANDARD_LIMITS,
) -> list[EventResult]:
    """Decide every event against ``world`` and write the outcome into ``uow``.

    ``reconcile`` is for imports: their events are synthesised from a PBX snapshot, so their
    ids are not remembered, and an event that changes nothing is neither applied (no clock
    moves) nor logged, which makes a second import write nothing at all.
    """
    before = world.copy()
    results: list[EventResult] = []
    logged: list[LogEntry] = []
    password_hashes: dict[str, str] = {}
    for item in incoming:
        if isinstance(item, Malformed):
            result = EventResult(item.event_id, Outcome.REJECTED, item.notes)
            logged.append(log_entry(now, source, item, None, result))
            results.append(result)
            continue
        decision = decide(item, world, params, limits)
        if not (reconcile and not decision.changes):
            apply(world, item, decision)
        if reconcile:
            world.seen.discard(item.event_id)
        for change in decision.changes:
            if isinstance(change, CreateUser):
                password_hashes[change.login] = hasher.hash_initial(
                    change.login
                    if change.password is PasswordPolicy.USERS_UID
                    else random_password()
                )
        result = EventResult(
            item.event_id, decision.outcome, decision.notes, decision.changes, decision.withheld
        )
        results.append(result)
        if not reconcile or result.changed:
            logged.append(log_entry(now, source, item, item.occurred_at, result))
    uow.world.persist(before, world, password_hashes=password_hashes, now=now)
    if logged:
        uow.log.append(logged)
    return results


def log_entry(
    now: datetime,
    source: str,
    item: Incoming,
    occurred_at: datetime | None,
    result: EventResult,
) -> LogEntry:
    return LogEntry(
        received_at=now,
        source=source,
        event_id=item.event_id,
        type=item.type if isinstance(item, Malformed) else item.type.value,
        login=item.login,
        group_id=None if isinstance(item, Malformed) else item.group_id,
        occurred_at=occurred_at,
        outcome=result.outcome,
        notes=result.notes,
        reason=result.reason,
    )


def not_too_far_ahead(item: Incoming, latest: datetime) -> Incoming:
    """An event dated far ahead would make every later event of its aspect stale for good,
    freezing the agent; a PBX clock that wrong is an error to fix, so it is rejected."""
    if isinstance(item, Malformed) or item.occurred_at <= latest:
        return item
    return Malformed(
        item.event_id,
        item.type.value,
        item.login,
        (note(Why.TOO_FAR_AHEAD, occurred_at=item.occurred_at.isoformat()),),
    )


def screen(item: Incoming) -> Incoming:
    """Reject an event whose text no database can store alike, before it touches one.

    PostgreSQL refuses NUL characters and no driver can encode an unpaired surrogate (JSON
    allows both, as ``\\u0000`` and ``\\ud800``); either would fail the whole batch at commit
    time on some backends and be stored on others.
    """
    if isinstance(item, Malformed):
        texts = (item.event_id, item.type, item.login, item.reason)
        if all(_storable(text) for text in texts if text is not None):
            return item
        notes = tuple(Note(n.why, tuple((k, _printable(v)) for k, v in n.args)) for n in item.notes)
        return Malformed(_kept(item.event_id), _kept(item.type), _kept(item.login), notes)
    if all(_storable(text) for text in _texts(item)):
        return item
    return Malformed(
        _kept(item.event_id), item.type.value, _kept(item.login), (note(Why.UNSTORABLE),)
    )


def _texts(value: object) -> Iterator[str]:
    """Every text in an event, whatever its type: its fields, walked down."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _texts(item)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            yield from _texts(getattr(value, f.name))


def _storable(text: str) -> bool:
    if "\0" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode().replace("\0", "\\x00")


def _kept(text: str | None) -> str | None:
    return text if text is None or _storable(text) else None
