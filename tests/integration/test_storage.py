"""The store on real SQLite, PostgreSQL and MariaDB: schema, transactions, concurrency, time.

Everything here goes through the service and storage code the connector runs (``upgrade``,
``apply_batch``, ``set_parameter``); the only instrumentation is an SQLAlchemy event listener
that records which statements reached the database.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    event,
    func,
    inspect,
    select,
    table,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from starface_connector.bootstrap import Container
from starface_connector.domain.model import (
    AcdStatus,
    Event,
    GroupUpdate,
    LoginStatus,
    Outcome,
    PhoneStatus,
    PhoneStatusChange,
    Profile,
    UserState,
    UserStatusChange,
    UserUpdate,
)
from starface_connector.domain.parameters import (
    DEFAULTS,
    IGNORE_GROUP_UPDATE,
    IGNORE_USER_STATUS,
)
from starface_connector.domain.reasons import Why, note
from starface_connector.domain.rules import World
from starface_connector.service.events import EventResult, Incoming, Malformed
from starface_connector.storage.cache import WorldCache
from starface_connector.storage.db import alembic_config, make_engine, migration_lock, upgrade
from starface_connector.storage.tables import (
    Base,
    BatchLockRow,
    EventLogRow,
    GroupMemberRow,
    GroupRow,
    ParameterChangeRow,
    ParameterRow,
    SeenEventRow,
    TombstoneRow,
    UserRow,
)
from starface_connector.storage.views import LogFilter
from tests.conftest import MovableClock, open_container, reset, scratch_database, settings_for
from tests.integration.helpers import upgrade_in_thread

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def profile(first: str = "Anna", phone: str = "+49 30 1001") -> Profile:
    return Profile(first, "Müller", "anna@example.com", "de", (phone,))


def user_update(eid: str, login: str, t: datetime, first: str = "Anna") -> UserUpdate:
    return UserUpdate(eid, t, login, profile(first), admin=False)


def apply(container: Container, events: Sequence[Incoming]) -> list[EventResult]:
    return container.events.apply_batch(list(events))


def set_param(container: Container, name: str, value: str) -> None:
    container.admin.set_parameter(name, value, actor="test")


#: event log rows of received events, not of people's changes
EVENTS = EventLogRow.event_id.is_not(None)

STATE_TABLES = (
    UserRow,
    TombstoneRow,
    GroupRow,
    GroupMemberRow,
    SeenEventRow,
    EventLogRow,
    ParameterRow,
    ParameterChangeRow,
    BatchLockRow,
)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the event path can write, in a stable order."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for row_class in STATE_TABLES:
            tbl = row_class.__table__
            rows = connection.execute(select(tbl).order_by(*tbl.primary_key.columns))
            state[tbl.name] = [tuple(row) for row in rows]
    return state


def received(state: dict[str, list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """The event log's rows of received events (a test's parameter changes are logged too)."""
    return [row for row in state["event_log"] if row[4] != "PARAMETER_SET"]


def scalar(engine: Engine, statement: Any) -> Any:
    with Session(engine) as session:
        return session.scalar(statement)


def user_row(engine: Engine, login: str) -> UserRow | None:
    with Session(engine) as session:
        return session.get(UserRow, login)


@contextmanager
def statements(engine: Engine) -> Iterator[tuple[list[str], list[str]]]:
    """Record (attempted, completed) statements, each as its first three words."""
    attempted: list[str] = []
    completed: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        attempted.append(" ".join(statement.split()[:3]).upper())

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        completed.append(" ".join(statement.split()[:3]).upper())

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield attempted, completed
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


# ---- schema ---------------------------------------------------------------------------------


def schema_differences(engine: Engine, metadata: MetaData) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))


def collation_differences(engine: Engine) -> list[tuple[str, str, str | None, str | None]]:
    """Alembic does not compare collations; key columns depend on them on MariaDB."""
    found = []
    with engine.connect() as connection:
        inspector = inspect(connection)
        for tbl in Base.metadata.sorted_tables:
            reflected = {c["name"]: c["type"] for c in inspector.get_columns(tbl.name)}
            for column in tbl.columns:
                model_type = column.type.dialect_impl(engine.dialect)
                if isinstance(model_type, TypeDecorator):
                    model_type = model_type.impl_instance
                if not isinstance(model_type, String):  # e.g. JSON, LONGTEXT on MariaDB
                    continue
                wanted = model_type.collation
                present = getattr(reflected[column.name], "collation", None)
                if wanted != present:
                    found.append((tbl.name, column.name, wanted, present))
    return found


def test_migrations_match_the_models(engine: Engine) -> None:
    reset(engine)
    assert schema_differences(engine, Base.metadata) == []
    assert collation_differences(engine) == []


def test_schema_comparison_sees_a_real_difference(engine: Engine) -> None:
    """The comparison above is not blind on this backend: a changed model shows up."""
    reset(engine)
    altered = MetaData(naming_convention=Base.metadata.naming_convention)
    for tbl in Base.metadata.sorted_tables:
        tbl.to_metadata(altered)
    altered.tables["acd_groups"].c.name.type = String(150)
    altered.tables["seen_events"].append_column(Column("extra", String(10), nullable=True))
    differences = schema_differences(engine, altered)
    kinds = sorted(
        d[0] if isinstance(d, tuple) else d[0][0] for d in differences
    )  # modify ops come wrapped in a list
    assert kinds == ["add_column", "modify_type"], differences


def test_upgrade_is_idempotent_and_keeps_data(container: Container) -> None:
    engine = container.engine
    reset(engine)
    set_param(container, IGNORE_USER_STATUS, "0")
    apply(container, [user_update("e1", "1001", at(1))])
    before = dump(engine)
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    upgrade(engine)
    upgrade(engine)
    assert dump(engine) == before
    assert scalar(engine, select(ParameterRow.value).where(ParameterRow.name == IGNORE_USER_STATUS))
    # jtel's six and DndPausesAgent
    assert scalar(engine, select(func.count()).select_from(ParameterRow)) == len(DEFAULTS)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == (head,)


def test_upgrade_creates_a_fresh_database_and_runs_again(backend: str, tmp_path: Path) -> None:
    with scratch_database(backend, tmp_path) as url:
        fresh = make_engine(url)
        try:
            upgrade(fresh)
            first = dump(fresh)
            upgrade(fresh)
            assert dump(fresh) == first
            assert dict(first["system_parameters"]) == DEFAULTS
            assert first["batch_lock"] == [(1, 0)]
            assert schema_differences(fresh, Base.metadata) == []
        finally:
            fresh.dispose()


WAITING_FOR_THE_LOCK = {
    "postgresql": "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
    "mariadb": "SELECT count(*) FROM information_schema.PROCESSLIST "
    "WHERE INFO LIKE 'SELECT GET_LOCK(%%' AND ID <> CONNECTION_ID()",
}


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_a_start_waits_for_the_migration_lock_then_finds_the_work_done(
    server: str, tmp_path: Path
) -> None:
    """While one instance holds the migration lock, another's start waits at the lock (the
    database shows it waiting), and once it is released finds nothing left to do. (SQLite's
    lock is the file's write lock; the two-instance test of the first start covers it.)"""
    with scratch_database(server, tmp_path) as url:
        holder, starter = make_engine(url), make_engine(url)
        try:
            upgrade(holder)
            before = dump(holder)
            thread, outcome = upgrade_in_thread(starter)
            with holder.connect() as connection, migration_lock(connection):
                thread.start()
                with holder.connect() as watcher:
                    deadline = time.monotonic() + 60
                    while not watcher.scalar(text(WAITING_FOR_THE_LOCK[server])):
                        assert thread.is_alive(), outcome
                        assert time.monotonic() < deadline, "the start never waited at the lock"
                        watcher.rollback()
                        time.sleep(0.01)
                assert thread.is_alive() and outcome == []  # still waiting
            thread.join(60)
            assert outcome == [None]
            assert dump(holder) == before
        finally:
            holder.dispose()
            starter.dispose()


# ---- one transaction per batch --------------------------------------------------------------


@contextmanager
def refusing(engine: Engine, table_name: str, column: str, value: str) -> Iterator[None]:
    """A trigger makes the database itself refuse rows whose ``column`` is ``value``, as a
    full disk, a constraint or a lost connection would refuse them mid-transaction."""
    message = "refused by the test trigger"
    create: list[str]
    drop: list[str]
    if engine.dialect.name == "sqlite":
        create = [
            f"CREATE TRIGGER refuse_row BEFORE INSERT ON {table_name} "
            f"WHEN NEW.{column} = '{value}' BEGIN SELECT RAISE(ABORT, '{message}'); END"
        ]
        drop = ["DROP TRIGGER IF EXISTS refuse_row"]
    elif engine.dialect.name == "postgresql":
        create = [
            "CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$",
            f"CREATE TRIGGER refuse_row BEFORE INSERT ON {table_name} FOR EACH ROW "
            f"WHEN (NEW.{column} = '{value}') EXECUTE FUNCTION refuse_row()",
        ]
        drop = [
            f"DROP TRIGGER IF EXISTS refuse_row ON {table_name}",
            "DROP FUNCTION IF EXISTS refuse_row()",
        ]
    else:
        create = [
            f"CREATE TRIGGER refuse_row BEFORE INSERT ON {table_name} FOR EACH ROW "
            f"BEGIN IF NEW.{column} = '{value}' THEN "
            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'; END IF; END"
        ]
        drop = ["DROP TRIGGER IF EXISTS refuse_row"]
    with engine.begin() as connection:
        for statement in create:
            connection.execute(text(statement))
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))


@pytest.mark.parametrize(
    ("last", "refused", "failing"),
    [
        (
            GroupUpdate("b6", at(2), "g2", "Refused", ("agent",)),
            ("acd_groups", "name", "Refused"),
            "INSERT INTO ACD_GROUPS",
        ),
        (
            PhoneStatusChange("refuse-me", at(3), "agent", PhoneStatus.IDLE),
            ("event_log", "event_id", "refuse-me"),
            "INSERT INTO EVENT_LOG",
        ),
    ],
    ids=["at-the-groups", "at-the-event-log"],
)
def test_a_value_the_database_refuses_costs_only_its_own_event(
    container: Container, last: Event, refused: tuple[str, str, str], failing: str
) -> None:
    """The database refuses one row, but only after other rows of the batch (user insert and
    update, group, members, ...) were written. That transaction rolls back as a whole, and
    the batch is written again one event at a time: the refused event alone is rejected, with
    what the database said; the others are applied; nothing of the refused one is stored."""
    engine = container.engine
    reset(engine)
    set_param(container, IGNORE_USER_STATUS, "0")
    set_param(container, IGNORE_GROUP_UPDATE, "0")
    apply(container, [user_update("setup", "agent", at(1))])
    batch: list[Incoming] = [
        UserStatusChange("b1", at(2), "agent", LoginStatus.LOGGED_IN),
        user_update("b2", "newcomer", at(2)),
        GroupUpdate("b3", at(2), "g1", "Sales", ("agent", "newcomer")),
        PhoneStatusChange("b4", at(2), "agent", PhoneStatus.BUSY),
        Malformed("b5", "NONSENSE", None, (note(Why.MALFORMED, detail="test"),)),
        last,
    ]
    with refusing(engine, *refused), statements(engine) as (attempted, completed):
        results = apply(container, batch)
    # the first attempt really failed in the middle of persisting the whole batch
    first = attempted[: attempted.index(failing) + 1]
    assert "INSERT INTO JTEL_USERS" in first
    assert "UPDATE JTEL_USERS SET" in first
    assert "INSERT INTO ACD_GROUPS" in first
    assert failing not in completed[: len(first)]
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 4 + [Outcome.REJECTED] * 2
    assert results[4].reason == "rejected: malformed event: test"
    assert results[5].reason.startswith("rejected: the database refused a value: ")
    assert "refused by the test trigger" in results[5].reason
    agent = user_row(engine, "agent")
    assert agent is not None
    assert (agent.acd_status, agent.phone_status) == ("CALLS_AND_MEDIA", "BUSY")
    groups = {g.id: g.members for g in container.views.groups()}
    assert groups == {"g1": ("agent", "newcomer")}
    state = dump(engine)
    assert last.event_id not in [row[0] for row in state["seen_events"]]
    # once the database takes the value, the same event is applied: it was never remembered
    (again,) = apply(container, [last])
    assert again.outcome is Outcome.APPLIED


@pytest.mark.parametrize(
    ("event", "stored_id"),
    [
        (user_update("nul-1", "nul", at(2), first="An\x00na"), "nul-1"),
        (GroupUpdate("sur-1", at(2), "g", "Sales \ud800", ("agent",)), "sur-1"),
        (PhoneStatusChange("sur-\udc00", at(2), "agent", PhoneStatus.BUSY), None),
        (UserStatusChange("sur-2", at(2), "ag\x00ent", LoginStatus.LOGGED_IN), "sur-2"),
        (Malformed("bad-\ud800", "X\x00", None, (note(Why.MALFORMED, detail="\ud800"),)), None),
    ],
    ids=["nul-in-name", "surrogate-in-group", "surrogate-in-id", "nul-in-login", "malformed"],
)
def test_text_no_database_can_store_is_rejected_alone(
    container: Container, event: Incoming, stored_id: str | None
) -> None:
    """NUL (PostgreSQL refuses it) and unpaired surrogates (not UTF-8 at all) reach the
    service as valid JSON; they must cost one rejected event on every backend, not the batch."""
    engine = container.engine
    reset(engine)
    set_param(container, IGNORE_USER_STATUS, "0")
    set_param(container, IGNORE_GROUP_UPDATE, "0")
    results = apply(
        container,
        [
            user_update("ok-1", "agent", at(1)),
            event,
            PhoneStatusChange("ok-2", at(3), "agent", PhoneStatus.RINGING),
        ],
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.REJECTED, Outcome.APPLIED]
    assert results[1].event_id == stored_id
    assert results[1].reason.startswith("rejected: malformed event: ")
    state = dump(engine)
    assert [row[0] for row in state["jtel_users"]] == ["agent"]
    assert state["acd_groups"] == []
    assert [row[0] for row in state["seen_events"]] == ["ok-1", "ok-2"]
    assert [(row[3], row[8]) for row in received(state)] == [
        ("ok-1", "applied"),
        (stored_id, "rejected"),
        ("ok-2", "applied"),
    ]


def test_a_committed_batch_is_complete(container: Container) -> None:
    engine = container.engine
    reset(engine)
    set_param(container, IGNORE_GROUP_UPDATE, "0")
    results = apply(
        container,
        [
            user_update("c1", "a", at(1)),
            user_update("c2", "b", at(1)),
            GroupUpdate("c3", at(2), "g", "Team", ("a", "b", "ghost")),
            PhoneStatusChange("c4", at(3), "ghost", PhoneStatus.IDLE),
        ],
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 3 + [Outcome.REJECTED]
    state = dump(engine)
    assert [row[0] for row in state["jtel_users"]] == ["a", "b"]
    assert state["acd_group_members"] == [("g", "a"), ("g", "b")]
    assert [row[0] for row in state["seen_events"]] == ["c1", "c2", "c3", "c4"]
    assert [(row[3], row[8]) for row in received(state)] == [
        ("c1", "applied"),
        ("c2", "applied"),
        ("c3", "applied"),
        ("c4", "rejected"),
    ]


# ---- concurrency ----------------------------------------------------------------------------


def run_threads(count: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(count)

    def start(index: int) -> Any:
        barrier.wait(timeout=30)
        return work(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count), timeout=120))


def test_concurrent_batches_on_the_same_user_lose_no_update(container: Container) -> None:
    """Four writers race on one agent with shuffled times; the newest event of each aspect
    must win, as if the batches had run one after another."""
    engine = container.engine
    reset(engine)
    set_param(container, IGNORE_USER_STATUS, "0")
    apply(container, [user_update("seed", "agent", at(0), first="n0")])
    threads, batches_each = 4, 6
    lock_before = scalar(engine, select(BatchLockRow.batches))
    rng = random.Random(20261125)
    seconds = list(range(1, threads * batches_each * 3 + 1))
    rng.shuffle(seconds)
    phones, statuses = list(PhoneStatus), list(LoginStatus)
    plan: list[list[list[Event]]] = []
    for thread in range(threads):
        mine: list[list[Event]] = []
        for number in range(batches_each):
            s1, s2, s3 = (seconds.pop() for _ in range(3))
            prefix = f"t{thread}-b{number}"
            mine.append(
                [
                    PhoneStatusChange(f"{prefix}-p", at(s1), "agent", phones[s1 % 4]),
                    UserStatusChange(f"{prefix}-s", at(s2), "agent", statuses[s2 % 2]),
                    user_update(f"{prefix}-u", "agent", at(s3), first=f"n{s3}"),
                ]
            )
        plan.append(mine)

    def work(index: int) -> list[EventResult]:
        results: list[EventResult] = []
        for batch in plan[index]:
            results.extend(container.events.apply_batch(batch))
        return results

    outcomes = Counter(r.outcome for rs in run_threads(threads, work) for r in rs)
    total = threads * batches_each * 3
    assert set(outcomes) <= {Outcome.APPLIED, Outcome.STALE}
    assert sum(outcomes.values()) == total

    events = [e for mine in plan for batch in mine for e in batch]
    newest_phone = max((e for e in events if isinstance(e, PhoneStatusChange)), key=when)
    newest_status = max((e for e in events if isinstance(e, UserStatusChange)), key=when)
    newest_update = max((e for e in events if isinstance(e, UserUpdate)), key=when)
    agent = user_row(engine, "agent")
    assert agent is not None
    assert (agent.phone_status, agent.phone_at) == (
        newest_phone.status.value,
        newest_phone.occurred_at,
    )
    expected_acd = (
        AcdStatus.CALLS_AND_MEDIA
        if newest_status.status is LoginStatus.LOGGED_IN
        else AcdStatus.LOGGED_OFF
    )
    assert (agent.acd_status, agent.acd_at) == (expected_acd.value, newest_status.occurred_at)
    assert (agent.first_name, agent.profile_at) == (
        newest_update.profile.first_name,
        newest_update.occurred_at,
    )
    assert scalar(engine, select(func.count()).select_from(SeenEventRow)) == total + 1
    assert scalar(engine, select(func.count()).select_from(EventLogRow).where(EVENTS)) == total + 1
    # one locked transaction per group of batches: batches waiting together share a commit
    transactions = scalar(engine, select(BatchLockRow.batches)) - lock_before
    assert batches_each <= transactions <= threads * batches_each


def when(e: Event) -> datetime:
    return e.occurred_at


def test_the_same_batch_sent_concurrently_applies_once(container: Container) -> None:
    engine = container.engine
    reset(engine)
    batch: list[Event] = [user_update(f"same-{n}", f"u{n}", at(n)) for n in range(10)]
    batch += [PhoneStatusChange(f"same-p{n}", at(20), f"u{n}", PhoneStatus.IDLE) for n in range(10)]
    threads = 4
    answers = run_threads(threads, lambda _: container.events.apply_batch(batch))
    for position, e in enumerate(batch):
        outcomes = Counter(answer[position].outcome for answer in answers)
        assert outcomes == {Outcome.APPLIED: 1, Outcome.DUPLICATE: threads - 1}, e.event_id
    assert scalar(engine, select(func.count()).select_from(UserRow)) == 10
    assert scalar(engine, select(func.count()).select_from(SeenEventRow)) == 20
    assert (
        scalar(engine, select(func.count()).select_from(EventLogRow).where(EVENTS)) == 20 * threads
    )


# ---- the memory of users' states (storage/cache.py) -----------------------------------------


BUSY, IDLE = PhoneStatus.BUSY, PhoneStatus.IDLE


def phone(eid: str, login: str, t: datetime, status: PhoneStatus) -> PhoneStatusChange:
    return PhoneStatusChange(eid, t, login, status)


def test_a_second_instance_s_write_is_seen_by_the_first_at_its_next_batch(
    container: Container,
) -> None:
    """The first instance remembers the agent BUSY; the second sets IDLE at 20 s. The first
    must decide from the database: IDLE is no change, and 15 s is older than the last."""
    reset(container.engine)
    other = open_container(settings_for(container.engine.url.render_as_string(hide_password=False)))
    try:
        apply(container, [user_update("c1", "agent", at(1)), phone("c2", "agent", at(10), BUSY)])
        assert [r.outcome for r in apply(other, [phone("c3", "agent", at(20), IDLE)])] == [
            Outcome.APPLIED
        ]
        unchanged, older = apply(
            container, [phone("c4", "agent", at(21), IDLE), phone("c5", "agent", at(15), BUSY)]
        )
        assert unchanged.notes[0].why is Why.PHONE_UNCHANGED, unchanged.reason
        assert older.outcome is Outcome.STALE, older.reason
    finally:
        other.close()


def test_a_writer_of_the_same_process_outside_the_event_path_is_seen(
    container: Container,
) -> None:
    """An import that writes without reading through the memory (the unchallenged path)
    moves the lock count past the memory's, so the next batch reads the database."""
    reset(container.engine)
    apply(container, [user_update("m1", "agent", at(1), first="Anna")])
    with container.uow(locked=True) as uow:  # a write that does not go through the memory
        before = uow.world.load_all()
        after = before.copy()
        after.users["agent"] = replace(after.users["agent"], profile=profile("Berta"))
        uow.world.persist(before, after, password_hashes={}, now=at(2))
        uow.commit()
    (result,) = apply(container, [user_update("m2", "agent", at(3), first="Berta")])
    assert result.notes[0].why is Why.NO_CHANGE, result.reason


def test_a_change_made_by_hand_is_seen_within_the_memory_s_age(container: Container) -> None:
    ticks = [0.0]
    container.uow.cache = WorldCache(max_age=1.0, monotonic=lambda: ticks[0])
    try:
        reset(container.engine)
        apply(container, [user_update("h1", "agent", at(1)), phone("h2", "agent", at(2), BUSY)])
        with container.engine.begin() as connection:  # around the lock, as a person would
            connection.execute(
                update(UserRow).where(UserRow.users_uid == "agent").values(phone_status="IDLE")
            )
        ticks[0] += 1.5
        (result,) = apply(container, [phone("h3", "agent", at(3), IDLE)])
        assert result.notes[0].why is Why.PHONE_UNCHANGED, result.reason
    finally:
        container.uow.cache = WorldCache()


# ---- time -----------------------------------------------------------------------------------

MOMENTS = [
    datetime(2026, 11, 25, 9, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, 15, 999999, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 10, 25, 2, 30, 0, 500000, tzinfo=timezone(timedelta(hours=1))),
    datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=timezone(timedelta(hours=14))),
    datetime(2025, 12, 31, 14, 29, 59, 654321, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    datetime(2040, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),  # past 2038
    datetime(1999, 12, 31, 23, 59, 59, 7, tzinfo=timezone(timedelta(hours=-12))),
]


def test_datetimes_round_trip_with_microseconds_in_utc(
    container: Container, clock: MovableClock
) -> None:
    engine = container.engine
    reset(engine)
    # the connector refuses events more than 24 h ahead of its clock: put it in 2040
    clock.advance((max(MOMENTS) - clock()).total_seconds())
    apply(container, [user_update(f"dt{i}", f"dt{i}", m) for i, m in enumerate(MOMENTS)])
    fresh = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with Session(fresh) as session:
            for i, moment in enumerate(MOMENTS):
                row = session.get(UserRow, f"dt{i}")
                assert row is not None
                logged = session.scalar(
                    select(EventLogRow.occurred_at).where(EventLogRow.event_id == f"dt{i}")
                )
                for value in (row.profile_at, logged):
                    assert value == moment
                    assert value is not None and value.tzinfo is UTC
                    assert value.microsecond == moment.microsecond
                    assert value.replace(tzinfo=None) == moment.astimezone(UTC).replace(tzinfo=None)
                assert row.created_at.tzinfo is UTC
        # what lies in the database, read without the connector's type: naive UTC
        raw = table("jtel_users", Column("users_uid", String), Column("profile_at", DateTime()))
        with fresh.connect() as connection:
            stored = dict(connection.execute(select(raw.c.users_uid, raw.c.profile_at)).all())
        for i, moment in enumerate(MOMENTS):
            assert stored[f"dt{i}"] == moment.astimezone(UTC).replace(tzinfo=None)
    finally:
        fresh.dispose()


def test_order_is_kept_to_the_microsecond(container: Container) -> None:
    engine = container.engine
    reset(engine)
    base = datetime(2026, 11, 25, 9, 0, 0, 500000, tzinfo=UTC)
    micro = timedelta(microseconds=1)
    apply(container, [user_update("m0", "agent", base)])
    steps = [
        (PhoneStatusChange("m1", base + micro, "agent", PhoneStatus.RINGING), Outcome.APPLIED),
        (PhoneStatusChange("m2", base, "agent", PhoneStatus.IDLE), Outcome.STALE),
        (PhoneStatusChange("m3", base + 2 * micro, "agent", PhoneStatus.BUSY), Outcome.APPLIED),
        (user_update("m4", "agent", base - micro, first="Older"), Outcome.STALE),
        (user_update("m5", "agent", base, first="Same instant"), Outcome.APPLIED),
    ]
    for e, expected in steps:  # one batch each: every decision reads the clock back
        (result,) = apply(container, [e])
        assert result.outcome is expected, (e.event_id, result.reason)
    agent = user_row(engine, "agent")
    assert agent is not None
    assert (agent.phone_status, agent.phone_at) == ("BUSY", base + 2 * micro)
    assert agent.first_name == "Same instant"


def test_a_naive_datetime_is_refused(container: Container) -> None:
    """The store refuses a datetime without a zone rather than guess which one it meant."""
    engine = container.engine
    reset(engine)
    naive = UserState("n", profile(), admin=False, profile_at=datetime(2026, 1, 1, 12, 0))
    with container.uow(locked=True) as uow, pytest.raises(Exception, match="naive datetime"):
        uow.world.persist(World(), World(users={"n": naive}), password_hashes={"n": "x"}, now=at(0))
    assert user_row(engine, "n") is None


# ---- idempotency across a restart -----------------------------------------------------------


def test_seen_events_survive_a_new_engine(container: Container) -> None:
    engine = container.engine
    reset(engine)
    set_param(container, IGNORE_USER_STATUS, "0")
    batch: list[Event] = [
        user_update("r1", "agent", at(1)),
        UserStatusChange("r2", at(2), "agent", LoginStatus.LOGGED_IN),
        PhoneStatusChange("r3", at(3), "agent", PhoneStatus.RINGING),
        PhoneStatusChange("r4", at(4), "nobody", PhoneStatus.IDLE),
    ]
    first = apply(container, batch)
    assert [r.outcome for r in first] == [Outcome.APPLIED] * 3 + [Outcome.REJECTED]
    before = dump(engine)
    engine.dispose()
    restarted = open_container(settings_for(engine.url.render_as_string(hide_password=False)))
    try:
        # later events of the same aspects, under new ids, would change things; the old ids not
        replay = apply(restarted, batch)
        assert [r.outcome for r in replay] == [Outcome.DUPLICATE] * 4
        assert [r.reason for r in replay] == [
            f"duplicate: eventId {e.event_id!r} was already processed" for e in batch
        ]
        after = dump(restarted.engine)
        assert {k: v for k, v in after.items() if k not in ("event_log", "batch_lock")} == {
            k: v for k, v in before.items() if k not in ("event_log", "batch_lock")
        }
        logged = [row for row in after["event_log"] if row not in before["event_log"]]
        assert [(row[3], row[8]) for row in logged] == [(e.event_id, "duplicate") for e in batch]
    finally:
        restarted.close()


# ---- keys are compared exactly ---------------------------------------------------------------

DISTINCT_LOGINS = ["anna", "Anna", "ANNA", "anna ", "änna", "rene", "rené", "René"]


def test_logins_and_event_ids_differing_in_case_accent_or_space_stay_distinct(
    container: Container,
) -> None:
    """A Login-ID or eventId is an exact string; no backend may fold 'Anna' into 'anna'."""
    engine = container.engine
    reset(engine)
    results = apply(
        container, [user_update(f"id-{login}", login, at(1)) for login in DISTINCT_LOGINS]
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED] * len(DISTINCT_LOGINS)
    # each user gets a telephone status of its own, through event ids that differ only so
    phones = list(PhoneStatus)
    ids = ["evt-x", "EVT-X", "evt-X", "evt-x ", "évt-x", "evt-y", "evt-ÿ", "EVT-Ÿ"]
    results = apply(
        container,
        [
            PhoneStatusChange(eid, at(2), login, phones[n % 4])
            for n, (eid, login) in enumerate(zip(ids, DISTINCT_LOGINS, strict=True))
        ],
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED] * len(ids)
    with Session(engine) as session:
        stored = dict(session.execute(select(UserRow.users_uid, UserRow.phone_status)).all())
        assert stored == {login: phones[n % 4].value for n, login in enumerate(DISTINCT_LOGINS)}
    user = container.views.user("Anna")
    assert user is not None and user.users_uid == "Anna"
    assert container.views.user("ANNa") is None
    logged = container.views.event_log(LogFilter(login="anna"))
    assert {item.login for item in logged} == {"anna"}
    again = apply(container, [PhoneStatusChange("EVT-x", at(3), "anna", PhoneStatus.OFFLINE)])
    assert again[0].outcome is Outcome.APPLIED
    again = apply(container, [PhoneStatusChange("evt-X", at(4), "anna", PhoneStatus.IDLE)])
    assert again[0].outcome is Outcome.DUPLICATE
    assert scalar(engine, select(func.count()).select_from(SeenEventRow)) == 2 * len(ids) + 1


def test_the_database_is_reached_through_its_url(engine: Engine, backend: str) -> None:
    """Guards the fixtures: each parametrisation really talks to its own kind of database."""
    expected = {"sqlite": "sqlite", "postgresql": "postgresql", "mariadb": "mysql"}[backend]
    assert engine.dialect.name == expected
    with engine.connect() as connection:
        version = connection.execute(
            text("select sqlite_version()" if backend == "sqlite" else "select version()")
        ).scalar_one()
    assert ("MariaDB" in version) is (backend == "mariadb")
