"""Retention on real SQLite, PostgreSQL and MariaDB: what ``purge`` deletes, what it keeps, how
much one transaction deletes, and what a forgotten eventId does when it comes again.

Time is the container's clock (a :class:`MovableClock`): batches are applied with the clock
set back by days, then the purge runs at the present; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from starface_connector.bootstrap import Container
from starface_connector.domain.model import (
    Event,
    Outcome,
    PhoneStatus,
    PhoneStatusChange,
    Profile,
    UserUpdate,
)
from starface_connector.service.events import EventResult
from starface_connector.service.retention import DailyPurge, PurgeReport, Retention
from starface_connector.storage.db import make_engine
from starface_connector.storage.tables import EventLogRow, SeenEventRow, UserRow
from starface_connector.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import MovableClock, reset

DAY = 24 * 3600


def days_ago(clock: MovableClock, days: float) -> None:
    clock.reset()
    clock.advance(-days * DAY)


def profile(first: str) -> Profile:
    return Profile(first, "Müller", "anna@example.com", "de", ("+49 30 1001",))


def apply(container: Container, events: Sequence[Event]) -> list[EventResult]:
    return container.events.apply_batch(list(events))


def logged_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.scalars(
            select(EventLogRow.event_id).where(EventLogRow.event_id.is_not(None))
        )
        return sorted(rows)


def seen_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.scalars(select(SeenEventRow.event_id)))


def phone(event_id: str, login: str, at: datetime, status: PhoneStatus) -> PhoneStatusChange:
    return PhoneStatusChange(event_id, at, login, status)


def batch_at(container: Container, clock: MovableClock, days: float, prefix: str) -> list[str]:
    """Three phone events for one user, received ``days`` ago; returns their eventIds."""
    days_ago(clock, days)
    now = clock()
    ids = [f"{prefix}-{n}" for n in range(3)]
    results = apply(
        container,
        [UserUpdate(ids[0], now, f"u-{prefix}", profile("Anna"), admin=False)]
        + [phone(i, f"u-{prefix}", now, PhoneStatus.BUSY) for i in ids[1:]],
    )
    assert {r.outcome for r in results} == {Outcome.APPLIED}
    return ids


def test_purge_deletes_what_is_older_than_its_window_and_keeps_the_rest(
    container: Container, clock: MovableClock
) -> None:
    engine = container.engine
    reset(engine)
    batch_at(container, clock, 91, "old")  # past both windows
    middle = batch_at(container, clock, 8, "middle")  # past the eventIds' window only
    recent = batch_at(container, clock, 6.9, "recent")  # within both
    clock.reset()

    report = container.retention.purge()  # the standard windows: 90 days and 7 days

    assert (report.event_log_deleted, report.event_ids_forgotten) == (3, 6)
    assert abs(report.event_log_before - (clock() - timedelta(days=90))) < timedelta(minutes=1)
    assert abs(report.event_ids_before - (clock() - timedelta(days=7))) < timedelta(minutes=1)
    assert logged_ids(engine) == sorted(middle + recent)
    assert seen_ids(engine) == sorted(recent)
    # a second purge finds nothing left to do
    again = container.retention.purge()
    assert (again.event_log_deleted, again.event_ids_forgotten) == (0, 0)
    # windows given for one run: everything older than a day
    shorter = container.retention.purge(event_log=timedelta(days=1), event_ids=timedelta(days=1))
    assert (shorter.event_log_deleted, shorter.event_ids_forgotten) == (6, 3)
    assert logged_ids(engine) == seen_ids(engine) == []
    # the users are state, not log: retention never touches them
    with engine.connect() as connection:
        assert sorted(connection.scalars(select(UserRow.users_uid))) == [
            "u-middle",
            "u-old",
            "u-recent",
        ]


@dataclass
class Transaction:
    statements: list[tuple[str, int]] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return sum(rows for verb, rows in self.statements if verb == "DELETE")


@contextmanager
def transactions(engine: Engine) -> Iterator[list[Transaction]]:
    """Every transaction on ``engine`` meanwhile, with each statement's verb and row count."""
    seen: list[Transaction] = []

    def begin(_conn: Any) -> None:
        seen.append(Transaction())

    def after(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen[-1].statements.append((statement.split(maxsplit=1)[0].upper(), cursor.rowcount))

    event.listen(engine, "begin", begin)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "after_cursor_execute", after)


def test_purge_deletes_in_bounded_chunks_each_its_own_transaction(
    container: Container, clock: MovableClock
) -> None:
    engine = container.engine
    reset(engine)
    for n in range(9):  # 27 log entries and 27 eventIds, all old
        batch_at(container, clock, 100, f"b{n}")
    batch_at(container, clock, 0, "now")
    clock.reset()
    pauses: list[float] = []
    retention = Retention(container.uow, clock, chunk=4, pause=pauses.append)

    with transactions(engine) as seen:
        report = retention.purge()

    assert (report.event_log_deleted, report.event_ids_forgotten) == (27, 27)
    assert [t.deleted for t in seen] == [4] * 6 + [3] + [4] * 6 + [3]
    assert report.chunks == len(seen) == 14
    for transaction in seen:  # one read of a chunk's ids by the time index, one delete
        assert [verb for verb, _ in transaction.statements] == ["SELECT", "DELETE"]
    assert len(pauses) == 12  # after every full chunk, before the next one
    assert logged_ids(engine) == seen_ids(engine) == ["now-0", "now-1", "now-2"]


def test_a_forgotten_event_id_sent_again_is_decided_again_and_overwrites_nothing_newer(
    container: Container, clock: MovableClock
) -> None:
    engine = container.engine
    reset(engine)
    days_ago(clock, 10)
    t = clock()
    created = UserUpdate("f-create", t, "u-f", profile("Anna"), admin=False)
    busy = phone("f-busy", "u-f", t + timedelta(seconds=1), PhoneStatus.BUSY)
    idle = phone("f-idle", "u-f", t + timedelta(seconds=2), PhoneStatus.IDLE)
    renamed = UserUpdate("f-rename", t + timedelta(seconds=3), "u-f", profile("Anke"), admin=False)
    assert {r.outcome for r in apply(container, [created, busy, idle, renamed])} == {
        Outcome.APPLIED
    }
    clock.reset()
    recent = phone("f-recent", "other", clock(), PhoneStatus.BUSY)
    apply(container, [recent])  # rejected (no such user), but its eventId is remembered
    report = container.retention.purge()
    assert report.event_ids_forgotten == 4

    resent = apply(container, [created, busy, idle, recent])

    # decided by the rules again, not answered "duplicate"...
    assert [(r.event_id, r.outcome) for r in resent] == [
        ("f-create", Outcome.STALE),  # the profile changed after it
        ("f-busy", Outcome.STALE),  # the telephone changed after it
        ("f-idle", Outcome.APPLIED),  # the newest telephone event: nothing to change
        ("f-recent", Outcome.DUPLICATE),  # within the window: still known
    ]
    assert resent[2].reason == "no change: already IDLE"
    assert not any(r.changes for r in resent)
    # ...and nothing newer was overwritten
    with engine.connect() as connection:
        row = connection.execute(
            select(UserRow.first_name, UserRow.phone_status).where(UserRow.users_uid == "u-f")
        ).one()
    assert tuple(row) == ("Anke", "IDLE")
    # remembered again from now on
    assert [r.outcome for r in apply(container, [busy])] == [Outcome.DUPLICATE]


def test_the_daily_purge_runs_at_start_survives_a_failure_and_stops_at_once(
    container: Container, clock: MovableClock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = container.engine
    reset(engine)
    batch_at(container, clock, 100, "old")
    clock.reset()
    daily = DailyPurge(container.retention, interval_seconds=DAY)
    daily.start()
    assert daily.ran.wait(60)
    daily.stop()  # does not wait for the next day
    assert not daily.running
    assert isinstance(daily.last, PurgeReport)
    assert (daily.last.event_log_deleted, daily.last.event_ids_forgotten) == (3, 3)
    assert logged_ids(engine) == seen_ids(engine) == []

    unreachable = make_engine("postgresql://postgres@127.0.0.1:1/x")
    try:
        failing = DailyPurge(Retention(SqlUnitOfWorkFactory(unreachable), clock))
        failing.start()
        assert failing.ran.wait(60)
        assert failing.running  # the loop goes on: the next day may succeed
        failing.stop()
    finally:
        unreachable.dispose()
    assert isinstance(failing.last, Exception)
    assert "purge failed" in caplog.text
