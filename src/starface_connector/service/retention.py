"""Retention: the event log and the processed eventIds are kept for a window, then deleted.

Both grow with every call (three to four rows each). ``purge`` deletes what is older than its
window in chunks of :data:`CHUNK` rows, each chunk its own short transaction, and pauses
between chunks as long as the chunk took, so on SQLite, where every write transaction holds
the database's one write lock, event batches get the lock at least half of the time however
much there is to delete. A forgotten eventId is no longer recognised as a duplicate: sent
again, its event goes through the rules, whose clocks per aspect keep it from overwriting
anything newer (it is ``stale``, or changes nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .periodic import Periodic
from .ports import Clock, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("starface_connector.purge")

#: rows one transaction deletes at most
CHUNK = 1000
EVENT_LOG_RETENTION = timedelta(days=90)
EVENT_ID_RETENTION = timedelta(days=7)
DAY = 24 * 3600.0


@dataclass(frozen=True)
class PurgeReport:
    event_log_before: datetime
    event_log_deleted: int
    event_ids_before: datetime
    event_ids_forgotten: int
    #: transactions used, each deleting at most CHUNK rows
    chunks: int


class Retention:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        event_log: timedelta = EVENT_LOG_RETENTION,
        event_ids: timedelta = EVENT_ID_RETENTION,
        chunk: int = CHUNK,
        pause: Callable[[float], object] = time.sleep,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self.event_log = event_log
        self.event_ids = event_ids
        self.chunk = chunk
        self._pause = pause

    def purge(
        self, *, event_log: timedelta | None = None, event_ids: timedelta | None = None
    ) -> PurgeReport:
        """Delete event log entries older than ``event_log`` and forget eventIds older than
        ``event_ids`` (the configured windows unless given)."""
        now = self._clock()
        log_before = now - (event_log or self.event_log)
        ids_before = now - (event_ids or self.event_ids)
        chunks = 0

        def purge_log(uow: UnitOfWork) -> int:
            return uow.retention.purge_event_log(received_before=log_before, limit=self.chunk)

        def purge_ids(uow: UnitOfWork) -> int:
            return uow.retention.purge_event_ids(seen_before=ids_before, limit=self.chunk)

        totals = []
        for step in (purge_log, purge_ids):
            total = 0
            while True:
                started = time.monotonic()
                with self._uow() as uow:
                    deleted = step(uow)
                    uow.commit()
                chunks += 1
                total += deleted
                if deleted < self.chunk:
                    break
                self._pause(time.monotonic() - started)  # let the event batches in
            totals.append(total)
        return PurgeReport(log_before, totals[0], ids_before, totals[1], chunks)


class DailyPurge(Periodic):
    """``serve --purge-daily``: a purge at start, then every 24 hours, in a background thread."""

    def __init__(self, retention: Retention, interval_seconds: float = DAY) -> None:
        super().__init__("daily-purge", interval_seconds)
        self.retention = retention
        #: the outcome of the last run: a report, or the error it failed with
        self.last: PurgeReport | Exception | None = None
        self.ran = threading.Event()

    def run_once(self) -> None:
        """One purge; a failure is logged and tried again the next day."""
        try:
            report = self.retention.purge()
        except Exception as exc:  # the loop must survive anything; the traceback goes to the log
            log.exception("purge failed")
            self.last = exc
        else:
            log.info("purge: %s", describe(report))
            self.last = report
        self.ran.set()


def describe(report: PurgeReport) -> str:
    return (
        f"{report.event_log_deleted} event log entries received before "
        f"{moment(report.event_log_before)} deleted, {report.event_ids_forgotten} eventIds "
        f"seen before {moment(report.event_ids_before)} forgotten"
    )


def moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
