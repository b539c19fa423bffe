"""The event path: screen, queue, decide and persist batches, with one commit per group."""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime, timedelta

from ..domain.model import Change, CreateUser, Event, Outcome, PasswordPolicy
from ..domain.parameters import Parameters
from ..domain.reasons import Note, Why, english, note
from ..domain.rules import STANDARD_LIMITS, Limits, World, apply, decide
from .errors import StoreUnavailable, ValueRefused
from .parameters import ParameterCache
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

    @functools.cached_property
    def reason(self) -> str:
        """The English text (written to the log and answered: rendered once)."""
        return english(self.notes)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass
class _Job:
    """One request's batch, waiting for the writer."""

    items: list[Incoming]
    source: str
    session_hash: str | None
    future: Future[list[EventResult]] = field(default_factory=Future)


class EventService:
    """Applies STARFACE event batches, each answered only after its commit.

    One writer thread per process takes every batch waiting at that moment, first come first
    served, and decides them in one transaction with one commit (group commit); each request
    is then answered with its own results. The database's write lock still orders writers of
    different instances. A value the database refuses costs only its own event: the group is
    written again one request at a time, and that request one event at a time.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        parameters: ParameterCache,
        limits: Limits = STANDARD_LIMITS,
        *,
        max_group_events: int = 2000,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._limits = limits
        self._parameters = parameters
        #: when this process last wrote each module session's use (at most once a second)
        self._uses_written: dict[str, datetime] = {}
        self._max_group_events = max_group_events
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(
        self,
        incoming: Sequence[Incoming],
        *,
        source: str = Source.STARFACE,
        session_hash: str | None = None,
    ) -> Future[list[EventResult]]:
        """Queue a batch for the writer; the future holds its results after the commit.

        Events are screened here, before the queue, so one request's unreadable or unstorable
        event never reaches another request's transaction. ``session_hash`` is the module
        session the batch came with: its last use is written in the same transaction."""
        latest = self._clock() + MAX_CLOCK_AHEAD
        job = _Job(
            [screen(not_too_far_ahead(item, latest)) for item in incoming], source, session_hash
        )
        self._ensure_writer()
        self._queue.put(job)
        return job.future

    def apply_batch(
        self, incoming: Sequence[Incoming], *, source: str = Source.STARFACE
    ) -> list[EventResult]:
        """Apply a batch atomically; returns one result per event, in order, after the commit."""
        return self.submit(incoming, source=source).result()

    def forget_sessions(self) -> None:
        self._uses_written.clear()

    def close(self) -> None:
        """Let the writer finish what is queued, then stop it."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(30)
            self._writer = None

    def _ensure_writer(self) -> None:
        if self._writer is None:
            with self._start:
                if self._writer is None:
                    self._writer = threading.Thread(
                        target=self._run, name="event-writer", daemon=True
                    )
                    self._writer.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, size, stop = [first], len(first.items), False
            while size < self._max_group_events:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                group.append(job)
                size += len(job.items)
            self._write(group)
            if stop:
                return

    def _write(self, group: list[_Job]) -> None:
        try:
            answers = self._commit(group)
        except ValueRefused:
            if len(group) > 1:  # one request's value: write them one at a time
                for job in group:
                    self._write([job])
                return
            (job,) = group
            self._answer(job, lambda: self._write_each(job))
        except StoreUnavailable as exc:
            # the batches that came in meanwhile would wait for the same fault once more:
            # they hear it now (nothing of theirs was applied either), so no request waits
            # for the database longer than one attempt
            for job in group + self._waiting():
                job.future.set_exception(exc)
        except BaseException as exc:  # outcome unknown, a bug: every request hears
            for job in group:
                job.future.set_exception(exc)
        else:
            for job, results in zip(group, answers, strict=True):
                job.future.set_result(results)

    def _waiting(self) -> list[_Job]:
        """Take every batch queued now (a stop request stays queued)."""
        jobs: list[_Job] = []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return jobs
            if job is None:
                self._queue.put(None)
                return jobs
            jobs.append(job)

    @staticmethod
    def _answer(job: _Job, work: Callable[[], list[EventResult]]) -> None:
        try:
            job.future.set_result(work())
        except BaseException as exc:
            job.future.set_exception(exc)

    def _commit(self, group: list[_Job]) -> list[list[EventResult]]:
        events = [item for job in group for item in job.items if not isinstance(item, Malformed)]
        params = self._parameters.get()
        with self._uow(locked=True) as uow:
            world = uow.world.load(
                event_ids=(e.event_id for e in events),
                logins=(login for e in events for login in e.logins),
                group_ids=(e.group_id for e in events if e.group_id is not None),
            )
            now = self._clock()
            before = world.copy()
            decided = [
                decide_batch(
                    world,
                    job.items,
                    params,
                    now=now,
                    hasher=self._hasher,
                    source=job.source,
                    limits=self._limits,
                )
                for job in group
            ]
            store(uow, before, world, decided, now)
            sessions = self._uses_to_write(group, now)
            if sessions:
                uow.sessions.touch_many(sessions, now)
            uow.commit()
        for session in sessions:
            self._uses_written[session] = now
        return [d.results for d in decided]

    def _uses_to_write(self, group: list[_Job], now: datetime) -> list[str]:
        """The sessions whose last use to write with this group: those not written within
        the last second (an expiry is at least ten seconds, so this is precise enough)."""
        used = {job.session_hash for job in group if job.session_hash}
        return sorted(
            session
            for session in used
            if now - self._uses_written.get(session, datetime.min.replace(tzinfo=now.tzinfo))
            >= timedelta(seconds=1)
        )

    def _write_each(self, job: _Job) -> list[EventResult]:
        """The request whose value the database refused, one event per transaction: the
        refused event is rejected with what the database said, the others are applied."""
        results: list[EventResult] = []
        for item in job.items:
            try:
                (answer,) = self._commit([_Job([item], job.source, job.session_hash)])
                results.extend(answer)
            except ValueRefused as refused:
                result = EventResult(
                    item.event_id, Outcome.REJECTED, (note(Why.REFUSED, detail=str(refused)),)
                )
                self._log_refusal(item, result, job.source)
                results.append(result)
        return results

    def _log_refusal(self, item: Incoming, result: EventResult, source: str) -> None:
        kept = Malformed(
            _kept(item.event_id),
            item.type if isinstance(item, Malformed) else item.type.value,
            None,
            result.notes,
        )
        with contextlib.suppress(ValueRefused), self._uow(locked=True) as uow:
            uow.log.append([log_entry(self._clock(), source, kept, None, result)])
            uow.commit()


@dataclass
class Decided:
    """A batch decided against the working set: its results and what it writes."""

    results: list[EventResult]
    entries: list[LogEntry]
    password_hashes: dict[str, str]


def store(
    uow: UnitOfWork, before: World, after: World, decided: Sequence[Decided], now: datetime
) -> None:
    """Write decided batches: the working set's difference once, every log entry once."""
    hashes = {login: h for d in decided for login, h in d.password_hashes.items()}
    uow.world.persist(before, after, password_hashes=hashes, now=now)
    entries = [entry for d in decided for entry in d.entries]
    if entries:
        uow.log.append(entries)


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
    """Decide every event against ``world`` and write the outcome into ``uow``."""
    before = world.copy()
    decided = decide_batch(
        world,
        incoming,
        params,
        now=now,
        hasher=hasher,
        source=source,
        reconcile=reconcile,
        limits=limits,
    )
    store(uow, before, world, [decided], now)
    return decided.results


def decide_batch(
    world: World,
    incoming: Sequence[Incoming],
    params: Parameters,
    *,
    now: datetime,
    hasher: PasswordHasher,
    source: str,
    reconcile: bool = False,
    limits: Limits = STANDARD_LIMITS,
) -> Decided:
    """Decide every event against ``world``, folding each into it for the next.

    ``reconcile`` is for imports: their events are synthesised from a PBX snapshot, so their
    ids are not remembered, and an event that changes nothing is neither applied (no clock
    moves) nor logged, which makes a second import write nothing at all.
    """
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
    return Decided(results, logged, password_hashes)


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
        for name in _field_names(type(value)):
            yield from _texts(getattr(value, name))


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    """A dataclass's field names, looked up once per class (``fields()`` costs per call)."""
    return tuple(f.name for f in fields(kind))


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
