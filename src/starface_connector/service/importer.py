"""Full import from STARFACE: the PBX snapshot becomes events that run through the same rules.

Users become USER_UPDATE events, groups GROUP_UPDATE, jtel users missing from the PBX
USER_DELETE, all stamped with the moment the snapshot was taken, on the PBX's own clock (the
clock of the module's live events; the connector's clock less a tolerance if the PBX did not
say). So the parameters apply exactly as for live events, and a live event newer than the
snapshot makes the imported value stale instead of being overwritten.

Deletions are the dangerous part: none are planned from a user list that may be partial (a
REST account without the administration right) or that skipped an unreadable record without
a Login-ID, a skipped user is never deleted, and an import that would delete more than a share
of the jtel users refuses unless asked with ``allow_mass_delete`` (scheduled runs never are).
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

from ..domain.model import (
    CreateUser,
    DeleteUser,
    Event,
    EventType,
    Outcome,
    UpsertGroup,
    UserUpdate,
)
from ..domain.parameters import Parameters, read_parameters
from ..domain.pbx import PbxSnapshot, snapshot_events
from ..domain.reasons import Why, note
from ..domain.rules import STANDARD_LIMITS, Limits, World, apply, decide
from ..domain.text import login_problem
from .errors import ImportBusy, ImportRefused
from .events import EventResult, Malformed, run_batch, screen
from .ports import Clock, Source, UnitOfWork, UnitOfWorkFactory
from .security import PasswordHasher

PbxReader = Callable[[], PbxSnapshot]
Progress = Callable[[str, int, int], None]
CHUNK_EVENTS = 1000
LEASE = timedelta(hours=1)
#: Standard share of the jtel users an import may delete without ``allow_mass_delete``.
MAX_DELETE_SHARE = 0.10
#: Without the PBX's time, the snapshot is dated this much before the connector's clock.
CLOCK_TOLERANCE = timedelta(minutes=5)


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
    #: per parameter: how many users or groups it kept (wholly or in part) from jtel
    ignored: Counter[str] = field(default_factory=Counter)
    stale: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    #: one per user or group that changes, is stale or is rejected: subject, outcome, reason
    #: (the English text) and notes (the reason as data, for other languages)
    details: list[dict[str, Any]] = field(default_factory=list)
    #: why no deletion was planned ("" when the PBX's user list was complete)
    deletes_withheld: str = ""
    #: records the PBX sent that could not be read: {"kind", "id", "login", "reason"}
    skipped: list[dict[str, Any]] = field(default_factory=list)
    #: groups deleted on the PBX while it was read (left as they are in jtel)
    groups_gone: list[str] = field(default_factory=list)
    #: what the import would refuse to do unasked (a dry run reports it instead)
    refusal: str = ""

    @property
    def partial(self) -> bool:
        """Not everything on the PBX could be followed: records skipped or deletes withheld."""
        return bool(self.skipped or self.deletes_withheld)

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
            "partial": self.partial,
            "deletesWithheld": self.deletes_withheld or None,
            "skipped": self.skipped,
            "groupsGone": sorted(self.groups_gone),
            "refusal": self.refusal or None,
            "details": [
                {k: v for k, v in detail.items() if k != "notes"} for detail in self.details
            ],
        }

    def _detail(self, subject: str, outcome: str, result: EventResult) -> None:
        self.details.append(
            {"subject": subject, "outcome": outcome, "reason": result.reason, "notes": result.notes}
        )

    def tally(self, event: Event, result: EventResult) -> None:
        """Count one event's result (from its data: outcome, notes, withheld, changes)."""
        subject = event.subject
        for parameter in result.withheld:
            self.ignored[parameter] += 1
        if result.outcome is Outcome.IGNORED:
            for n in result.notes:
                if n.why is Why.IGNORED:
                    self.ignored[n["parameter"]] += 1
            return
        if result.outcome in (Outcome.STALE, Outcome.REJECTED):
            (self.stale if result.outcome is Outcome.STALE else self.rejected).append(subject)
            self._detail(subject, result.outcome.value, result)
            return
        if not result.changes:
            if event.type is EventType.GROUP_UPDATE:
                self.groups_unchanged += 1
            else:
                self.unchanged += 1
            return
        self._detail(subject, "changed", result)
        first = result.changes[0]
        if isinstance(first, CreateUser):
            self.created.append(subject)
        elif isinstance(first, DeleteUser):
            self.deleted.append(subject)
        elif isinstance(first, UpsertGroup):
            (self.groups_created if first.created else self.groups_updated).append(subject)
        else:
            self.updated.append(subject)


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
    """Runs imports one at a time, in this process (a lock) and across instances (a lease)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        *,
        max_delete_share: float = MAX_DELETE_SHARE,
        clock_tolerance: timedelta = CLOCK_TOLERANCE,
        limits: Limits = STANDARD_LIMITS,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._limits = limits
        self._local = threading.Lock()
        self.max_delete_share = max_delete_share
        self.clock_tolerance = clock_tolerance
        #: called after the plan and before the write (tests commit a live event there)
        self.on_planned: Callable[[], object] | None = None
        #: told each run's outcome (done, partial, failed, refused, busy): the metrics
        self.observers: list[Callable[[str], object]] = []

    def run(
        self,
        fetch: PbxReader,
        *,
        dry_run: bool = False,
        trigger: str = "cli",
        progress: Progress | None = None,
        allow_mass_delete: bool = False,
    ) -> ImportReport:
        """Import now; raises :class:`ImportBusy` if one runs, :class:`ImportRefused` if it
        would delete more than ``max_delete_share`` of the jtel users unasked."""
        outcome = "failed"
        try:
            if not self._local.acquire(blocking=False):
                raise ImportBusy("an import is already running")
            try:
                with fewer_gc_pauses():
                    report = self._run(
                        fetch,
                        dry_run=dry_run,
                        trigger=trigger,
                        progress=progress,
                        allow_mass_delete=allow_mass_delete,
                    )
            finally:
                self._local.release()
            outcome = "partial" if report.partial else "done"
            return report
        except ImportBusy:
            outcome = "busy"
            raise
        except ImportRefused:
            outcome = "refused"
            raise
        finally:
            for observer in self.observers:
                observer(outcome)

    def _run(
        self,
        fetch: PbxReader,
        *,
        dry_run: bool,
        trigger: str,
        progress: Progress | None,
        allow_mass_delete: bool,
    ) -> ImportReport:
        run_id = self._take_lease(trigger, dry_run)
        status = "failed"
        report: ImportReport | None = None
        try:
            fallback = self._clock() - self.clock_tolerance
            if progress:
                progress("fetch", 0, 1)
            snapshot = fetch()
            if progress:
                progress("fetch", 1, 1)
            taken_at = snapshot.taken_at or fallback
            report = self._apply(snapshot, taken_at, dry_run, progress, allow_mass_delete)
            status = "partial" if report.partial else "done"
            return report
        finally:
            self._release_lease(run_id, status, report)

    def _take_lease(self, trigger: str, dry_run: bool) -> int:
        with self._uow(locked=True) as uow:
            now = self._clock()
            running = uow.imports.running(started_after=now - LEASE)
            if running is not None:
                raise ImportBusy(f"import {running} is still running")
            run_id = uow.imports.start(started_at=now, trigger=trigger, dry_run=dry_run)
            uow.commit()
        return run_id

    def _release_lease(self, run_id: int, status: str, report: ImportReport | None) -> None:
        summary = None
        if report is not None:
            summary = {k: v for k, v in report.as_json().items() if k != "details"}
        with self._uow() as uow:
            uow.imports.finish(run_id, status=status, finished_at=self._clock(), summary=summary)
            uow.commit()

    def _apply(
        self,
        snapshot: PbxSnapshot,
        taken_at: datetime,
        dry_run: bool,
        progress: Progress | None,
        allow_mass_delete: bool = False,
    ) -> ImportReport:
        """Decide the whole import in memory first, then write only what changes.

        The first pass folds every event over the current state: that is the dry run, and the
        report. Then the changing events are written. If no other writer took the write lock
        since the state was read (the lock counts writers), the state is still exact and they
        are written in one transaction; otherwise they are decided again in short transactions
        against fresh state, so a live event that arrived meanwhile still wins. Events that
        change nothing are never written, so a repeated import writes nothing.
        """
        with self._uow() as uow:
            # The counter first: a writer committing after this read is seen as a conflict.
            writers = uow.world.writers()
            params = read_parameters(uow.parameters.values())[0]
            world = uow.world.load_all()
        if not snapshot.users and world.users and not params.ignore_user_deletes:
            # An empty list is far likelier a REST account without rights than an empty PBX.
            raise ImportRefused(
                f"STARFACE listed no users at all; refusing to delete all {len(world.users)} "
                "jtel users (check the REST account's rights)"
            )
        pristine = world.copy()
        report = ImportReport(
            dry_run=dry_run,
            taken_at=taken_at,
            deletes_withheld=snapshot.why_no_deletes,
            skipped=[
                {"kind": r.kind, "id": r.id, "login": r.login, "reason": r.reason}
                for r in snapshot.skipped
            ],
            groups_gone=[str(g) for g in snapshot.groups_gone],
        )
        changing: list[Event] = []
        planned: list[EventResult] = []
        for event in snapshot_events(snapshot, list(world.users), taken_at):
            screened = screen(event)
            if isinstance(screened, Malformed):  # text no database can store alike
                report.tally(event, EventResult(event.event_id, Outcome.REJECTED, screened.notes))
                continue
            problem = login_problem(event.login) if isinstance(event, UserUpdate) else None
            if problem is not None:  # a user no one could reach at /api/v1/users/{usersUid}
                why = note(Why.INVALID_LOGIN, login=event.login, problem=problem.value)
                report.tally(event, EventResult(event.event_id, Outcome.REJECTED, (why,)))
                continue
            decision = decide(event, world, params, self._limits)
            result = EventResult(
                event.event_id,
                decision.outcome,
                decision.notes,
                decision.changes,
                decision.withheld,
            )
            if decision.changes:
                apply(world, event, decision)
                changing.append(event)
                planned.append(result)
            else:
                report.tally(event, result)
        deletes = sum(1 for r in planned for c in r.changes if isinstance(c, DeleteUser))
        if deletes and deletes > self.max_delete_share * len(pristine.users):
            report.refusal = (
                f"the import would delete {deletes} of {len(pristine.users)} jtel users, more "
                f"than {self.max_delete_share:.0%} (STARFACE_CONNECTOR_IMPORT_MAX_DELETE_SHARE)"
            )
            if not (dry_run or allow_mass_delete):
                raise ImportRefused(
                    f"{report.refusal}; nothing was changed. If that is right, run it with "
                    "--allow-mass-delete (API: allowMassDelete=true)"
                )
        if self.on_planned is not None and not dry_run:
            self.on_planned()
        if dry_run or not changing:
            for event, result in zip(changing, planned, strict=True):
                report.tally(event, result)
            return report
        results = self._apply_unchallenged(changing, pristine, params, writers)
        if results is not None:
            for event, result in zip(changing, results, strict=True):
                report.tally(event, result)
            if progress:
                progress("apply", len(changing), len(changing))
            return report
        done = 0
        for start in range(0, len(changing), CHUNK_EVENTS):
            chunk = changing[start : start + CHUNK_EVENTS]
            for event, result in zip(chunk, self._apply_chunk(chunk), strict=True):
                report.tally(event, result)
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
        with self._uow(locked=True) as uow:
            if writers is None or uow.world.writers() != writers + 1:  # +1: our own lock
                return None  # leaving without commit rolls the lock back
            results = self._write(uow, pristine, changing, params)
            uow.commit()
        return results

    def _apply_chunk(self, chunk: Sequence[Event]) -> list[EventResult]:
        with self._uow(locked=True) as uow:
            params = read_parameters(uow.parameters.values())[0]
            world = uow.world.load(
                event_ids=(),
                logins=(login for e in chunk for login in e.logins),
                group_ids=(e.group_id for e in chunk if e.group_id is not None),
            )
            results = self._write(uow, world, chunk, params)
            uow.commit()
        return results

    def _write(
        self, uow: UnitOfWork, world: World, events: Sequence[Event], params: Parameters
    ) -> list[EventResult]:
        return run_batch(
            uow,
            world,
            events,
            params,
            now=self._clock(),
            hasher=self._hasher,
            source=Source.IMPORT,
            reconcile=True,
            limits=self._limits,
        )
