"""Full import from STARFACE: the PBX snapshot becomes events that run through the same rules.

Users become USER_UPDATE events, groups GROUP_UPDATE, jtel users missing from the PBX
USER_DELETE, all stamped with the moment the snapshot was taken. So the six parameters apply
exactly as for live events, and a live event newer than the snapshot makes the imported value
stale instead of being overwritten.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ..domain.model import (
    CreateUser,
    DeleteUser,
    Event,
    EventType,
    GroupUpdate,
    Outcome,
    Profile,
    UpsertGroup,
    UserDelete,
    UserUpdate,
)
from ..domain.parameters import IGNORE_USER_SECURITY, Parameters
from ..domain.pbx import PbxSnapshot
from ..domain.rules import World, apply, decide
from ..starface.errors import StarfaceProtocolError
from ..storage.db import locked_transaction, utcnow
from ..storage.repository import load_parameters, load_world
from ..storage.repository import snapshot as snapshot_world
from ..storage.tables import BatchLockRow, ImportRunRow
from .events import UNSTORABLE, EventResult, Malformed, run_batch, screen

Progress = Callable[[str, int, int], None]
CHUNK_EVENTS = 1000
LEASE = timedelta(hours=1)


class ImportBusy(RuntimeError):
    """Another import is running; imports never overlap."""


@dataclass
class ImportReport:
    dry_run: bool
    taken_at: datetime
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    groups_created: list[str] = field(default_factory=list)
    groups_updated: list[str] = field(default_factory=list)
    groups_unchanged: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    stale: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    details: list[dict[str, str]] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return (
            len(self.created)
            + len(self.updated)
            + len(self.deleted)
            + len(self.groups_created)
            + len(self.groups_updated)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "takenAt": self.taken_at.isoformat().replace("+00:00", "Z"),
            "changes": self.changes,
            "users": {
                "created": sorted(self.created),
                "updated": sorted(self.updated),
                "deleted": sorted(self.deleted),
                "unchanged": self.unchanged,
            },
            "groups": {
                "created": sorted(self.groups_created),
                "updated": sorted(self.groups_updated),
                "unchanged": self.groups_unchanged,
            },
            "ignored": dict(sorted(self.ignored.items())),
            "stale": sorted(self.stale),
            "rejected": sorted(self.rejected),
            "details": self.details,
        }


def snapshot_events(snapshot: PbxSnapshot, jtel_logins: Sequence[str], at: datetime) -> list[Event]:
    """The events that would bring jtel to the PBX's state (pure; ids name the run's moment)."""
    stamp = at.strftime("%Y%m%dT%H%M%S.%f")
    events: list[Event] = []
    pbx_logins = set()
    for user in snapshot.users:
        pbx_logins.add(user.login)
        events.append(
            UserUpdate(
                f"import:{stamp}:user:{user.login}",
                at,
                user.login,
                Profile(
                    user.first_name,
                    user.family_name,
                    user.email,
                    user.language,
                    tuple(user.phone_numbers),
                ),
                user.admin,
            )
        )
    for login in sorted(set(jtel_logins) - pbx_logins):
        events.append(UserDelete(f"import:{stamp}:delete:{login}", at, login))
    for group in snapshot.groups:
        events.append(
            GroupUpdate(
                f"import:{stamp}:group:{group.id}",
                at,
                str(group.id),
                group.name,
                tuple(group.member_logins),
            )
        )
    return events


@contextmanager
def fewer_gc_pauses() -> Iterator[None]:
    """An import allocates ~10^5 long-lived objects; default GC thresholds make the collector
    re-scan them hundreds of times (measured: 15-20% of an import). Raised while it runs."""
    old = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)


class Importer:
    """Runs imports one at a time, in this process (a lock) and across instances (a lease row)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self._local = threading.Lock()

    def run(
        self,
        fetch: Callable[[], PbxSnapshot],
        *,
        dry_run: bool = False,
        trigger: str = "cli",
        progress: Progress | None = None,
    ) -> ImportReport:
        if not self._local.acquire(blocking=False):
            raise ImportBusy("an import is already running")
        try:
            with fewer_gc_pauses():
                return self._run(fetch, dry_run=dry_run, trigger=trigger, progress=progress)
        finally:
            self._local.release()

    def _run(
        self,
        fetch: Callable[[], PbxSnapshot],
        *,
        dry_run: bool,
        trigger: str,
        progress: Progress | None,
    ) -> ImportReport:
        run_id = self._take_lease(trigger, dry_run)
        status = "failed"
        report: ImportReport | None = None
        try:
            taken_at = utcnow()
            if progress:
                progress("fetch", 0, 1)
            snapshot = fetch()
            if progress:
                progress("fetch", 1, 1)
            report = self._apply(snapshot, taken_at, dry_run, progress)
            status = "done"
            return report
        finally:
            self._release_lease(run_id, status, report)

    def _take_lease(self, trigger: str, dry_run: bool) -> int:
        with locked_transaction(self.factory) as session:
            now = utcnow()
            running = session.scalar(
                select(ImportRunRow.id).where(
                    ImportRunRow.status == "running", ImportRunRow.started_at > now - LEASE
                )
            )
            if running is not None:
                raise ImportBusy(f"import {running} is still running")
            row = ImportRunRow(started_at=now, trigger=trigger, dry_run=dry_run, status="running")
            session.add(row)
            session.flush()
            return row.id

    def _release_lease(self, run_id: int, status: str, report: ImportReport | None) -> None:
        summary = None
        if report is not None:
            summary = {k: v for k, v in report.as_json().items() if k != "details"}
        with self.factory() as session, session.begin():
            session.execute(
                update(ImportRunRow)
                .where(ImportRunRow.id == run_id)
                .values(status=status, finished_at=utcnow(), summary=summary)
            )

    def _apply(
        self,
        snapshot: PbxSnapshot,
        taken_at: datetime,
        dry_run: bool,
        progress: Progress | None,
    ) -> ImportReport:
        """Decide the whole import in memory first, then write only what changes.

        The first pass folds every event over the current state: that is the dry run, and the
        report. Then the changing events are written. If no other writer took the write lock
        since the state was read (the lock row counts writers), the state is still exact and
        they are written in one transaction; otherwise they are decided again in short
        transactions against fresh state, so a live event that arrived meanwhile still wins.
        Events that change nothing are never written, so a repeated import writes nothing.
        """
        with self.factory() as session:
            # The counter first: a writer committing after this read is seen as a conflict.
            writers = session.scalar(select(BatchLockRow.batches).where(BatchLockRow.id == 1))
            params = load_parameters(session)
            world = load_world(
                session, event_ids=(), logins=(), group_ids=(), all_users=True, all_groups=True
            )
        if not snapshot.users and world.users and not params.ignore_user_deletes:
            # An empty list is far likelier a REST account without rights than an empty PBX.
            raise StarfaceProtocolError(
                f"STARFACE listed no users at all; refusing to delete all {len(world.users)} "
                "jtel users (check the REST account's rights)"
            )
        pristine = snapshot_world(world)
        events = snapshot_events(snapshot, list(world.users), taken_at)
        report = ImportReport(dry_run=dry_run, taken_at=taken_at)
        changing: list[Event] = []
        planned: list[EventResult] = []
        for event in events:
            if isinstance(screen(event), Malformed):  # text no database can store alike
                subject = event.group_id if isinstance(event, GroupUpdate) else event.login
                report.rejected.append(subject)
                report.details.append(
                    {"subject": subject, "outcome": "rejected", "reason": UNSTORABLE}
                )
                continue
            decision = decide(event, world, params)
            result = EventResult(
                event.event_id, decision.outcome, decision.reason, decision.changes
            )
            if decision.changes:
                apply(world, event, decision)
                changing.append(event)
                planned.append(result)
            else:
                _tally(report, event, result)
        if dry_run or not changing:
            for event, result in zip(changing, planned, strict=True):
                _tally(report, event, result)
            return report
        results = self._apply_unchallenged(changing, pristine, params, writers)
        if results is not None:
            for event, result in zip(changing, results, strict=True):
                _tally(report, event, result)
            if progress:
                progress("apply", len(changing), len(changing))
            return report
        done = 0
        for chunk in _chunks(changing, CHUNK_EVENTS):
            for event, result in zip(chunk, self._apply_chunk(chunk), strict=True):
                _tally(report, event, result)
            done += len(chunk)
            if progress:
                progress("apply", done, len(changing))
        return report

    def _apply_unchallenged(
        self,
        changing: Sequence[Event],
        pristine: World,
        params: Parameters,
        writers: int | None,
    ) -> list[EventResult] | None:
        """Write against the state read while planning, if nobody wrote since; else None."""
        try:
            with locked_transaction(self.factory) as session:
                now = session.scalar(select(BatchLockRow.batches).where(BatchLockRow.id == 1))
                if writers is None or now != writers + 1:  # +1: our own lock
                    raise _Challenged
                return run_batch(
                    session, pristine, changing, params, source="import", reconcile=True
                )
        except _Challenged:
            return None

    def _apply_chunk(self, chunk: Sequence[Event]) -> list[EventResult]:
        with locked_transaction(self.factory) as session:
            params = load_parameters(session)
            world = load_world(
                session,
                event_ids=(),
                logins=_logins(chunk),
                group_ids=(e.group_id for e in chunk if isinstance(e, GroupUpdate)),
            )
            return run_batch(session, world, chunk, params, source="import", reconcile=True)


class _Challenged(Exception):
    """Another writer committed between planning and writing (rolls the attempt back)."""


def _logins(events: Sequence[Event]) -> set[str]:
    logins: set[str] = set()
    for event in events:
        if isinstance(event, GroupUpdate):
            logins.update(event.members)
        else:
            logins.add(event.login)
    return logins


def _chunks(events: list[Event], size: int) -> list[list[Event]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


ADMIN_NOT_TAKEN = f"admin flag not changed ({IGNORE_USER_SECURITY}=1)"


def _tally(report: ImportReport, event: Event, result: EventResult) -> None:
    subject = event.group_id if isinstance(event, GroupUpdate) else event.login
    if ADMIN_NOT_TAKEN in result.reason:  # the rules' wording for a withheld admin change
        report.ignored[f"admin flag ignored: {IGNORE_USER_SECURITY}=1"] += 1
    if result.outcome is Outcome.IGNORED:
        report.ignored[result.reason] += 1
        return
    if result.outcome is Outcome.STALE:
        report.stale.append(subject)
        report.details.append({"subject": subject, "outcome": "stale", "reason": result.reason})
        return
    if result.outcome is Outcome.REJECTED:
        report.rejected.append(subject)
        report.details.append({"subject": subject, "outcome": "rejected", "reason": result.reason})
        return
    if not result.changes:
        if event.type is EventType.GROUP_UPDATE:
            report.groups_unchanged += 1
        else:
            report.unchanged += 1
        return
    report.details.append({"subject": subject, "outcome": "changed", "reason": result.reason})
    first = result.changes[0]
    if isinstance(first, CreateUser):
        report.created.append(subject)
    elif isinstance(first, DeleteUser):
        report.deleted.append(subject)
    elif isinstance(first, UpsertGroup):
        (report.groups_created if first.created else report.groups_updated).append(subject)
    else:
        report.updated.append(subject)
