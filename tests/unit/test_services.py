"""The service layer on an in-memory unit of work: every use case without a database.

The same services run on SQLite, PostgreSQL and MariaDB in tests/integration; here they run
on :mod:`tests.unit.fakes`, with a clock that moves only when told, so expiry and idle times
are exact and nothing sleeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from starface_connector.domain.model import (
    AcdStatus,
    GroupUpdate,
    LoginStatus,
    ManualChange,
    Outcome,
    PhoneStatus,
    PhoneStatusChange,
    Profile,
    UserDelete,
    UserStatusChange,
    UserUpdate,
)
from starface_connector.domain.parameters import (
    IGNORE_USER_DELETES,
    IGNORE_USER_SECURITY,
    IGNORE_USER_STATUS,
    SESSION_EXPIRE_SECONDS,
    USER_PASSWORD_SET_UID,
    InvalidParameter,
)
from starface_connector.domain.pbx import PbxGroup, PbxSnapshot, PbxUser
from starface_connector.domain.reasons import Why, note
from starface_connector.domain.rules import Limits
from starface_connector.domain.throttle import LOOKBACK
from starface_connector.service.accounts import API, CONSOLE, MODULE, SYSADMIN, Accounts
from starface_connector.service.admin import Administration
from starface_connector.service.errors import ImportBusy, ImportRefused, PbxUnreachable
from starface_connector.service.events import EventService, Malformed
from starface_connector.service.importer import Importer
from starface_connector.service.parameters import ParameterCache
from starface_connector.service.scheduler import ImportScheduler
from starface_connector.service.security import PasswordHasher, token_hash
from starface_connector.service.throttling import LoginThrottled
from tests.unit.fakes import FakeClock, FakeUnitOfWorkFactory, ImportRun


@dataclass
class Services:
    uow: FakeUnitOfWorkFactory
    clock: FakeClock
    hasher: PasswordHasher
    events: EventService
    accounts: Accounts
    admin: Administration
    importer: Importer


@pytest.fixture(scope="module")
def hasher() -> Iterator[PasswordHasher]:
    shared = PasswordHasher()
    yield shared
    shared.close()


@pytest.fixture
def s(hasher: PasswordHasher) -> Services:
    uow, clock = FakeUnitOfWorkFactory(), FakeClock()
    parameters = ParameterCache(uow, clock)
    return Services(
        uow,
        clock,
        hasher,
        EventService(uow, clock, hasher, parameters),
        Accounts(uow, clock, hasher, parameters),
        Administration(uow, clock, parameters),
        Importer(uow, clock, hasher),
    )


def profile(first: str = "Anna") -> Profile:
    return Profile(first, "Müller", "anna@example.com", "de", ("+49 30 1001",))


def update(s: Services, login: str, eid: str, seconds: float = 0, **kw: object) -> UserUpdate:
    admin = bool(kw.pop("admin", False))
    return UserUpdate(eid, s.clock() + timedelta(seconds=seconds), login, profile(), admin)


def phone(
    s: Services, login: str, status: PhoneStatus, eid: str, seconds: float = 1
) -> PhoneStatusChange:
    return PhoneStatusChange(eid, s.clock() + timedelta(seconds=seconds), login, status)


# ---- the event path -------------------------------------------------------------------------


def test_a_batch_is_decided_persisted_and_logged_in_one_commit(s: Services) -> None:
    results = s.events.apply_batch(
        [update(s, "1001", "e1"), phone(s, "1001", PhoneStatus.RINGING, "e2")]
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.APPLIED]
    assert results[1].reason == "telephone status OFFLINE -> RINGING"
    state = s.uow.state
    assert state.world.users["1001"].phone_status is PhoneStatus.RINGING
    assert state.world.seen == {"e1", "e2"}
    assert [(e.source, e.event_id, e.type, e.login, e.outcome) for e in state.log] == [
        ("starface", "e1", "USER_UPDATE", "1001", Outcome.APPLIED),
        ("starface", "e2", "PHONE_STATUS", "1001", Outcome.APPLIED),
    ]
    assert state.log[1].notes == results[1].notes
    assert (s.uow.database.commits, state.writers) == (1, 1)


def test_a_seen_event_is_a_duplicate_within_and_across_batches(s: Services) -> None:
    first = update(s, "1001", "e1")
    assert [r.outcome for r in s.events.apply_batch([first, first])] == [
        Outcome.APPLIED,
        Outcome.DUPLICATE,
    ]
    (again,) = s.events.apply_batch([first])
    assert (again.outcome, again.reason) == (
        Outcome.DUPLICATE,
        "duplicate: eventId 'e1' was already processed",
    )
    assert len(s.uow.state.log) == 3


def test_a_malformed_event_is_rejected_alone_and_logged(s: Services) -> None:
    bad = Malformed("b1", "PHONE_STATUS", "1001", (note(Why.MALFORMED, detail="status: wrong"),))
    results = s.events.apply_batch([update(s, "1001", "e1"), bad])
    assert [(r.outcome, r.reason) for r in results][1] == (
        Outcome.REJECTED,
        "rejected: malformed event: status: wrong",
    )
    assert "1001" in s.uow.state.world.users
    logged = s.uow.state.log[1]
    assert (logged.event_id, logged.type, logged.login, logged.occurred_at) == (
        "b1",
        "PHONE_STATUS",
        "1001",
        None,
    )


def test_an_event_far_ahead_of_the_clock_is_rejected(s: Services) -> None:
    results = s.events.apply_batch(
        [update(s, "1001", "e1", seconds=23 * 3600), update(s, "1002", "e2", seconds=25 * 3600)]
    )
    assert results[0].outcome is Outcome.APPLIED
    assert results[1].outcome is Outcome.REJECTED
    assert "more than 24 h ahead of the connector's clock" in results[1].reason
    assert set(s.uow.state.world.users) == {"1001"}
    s.clock.advance(2 * 3600)  # the same moment is not too far ahead of a later clock
    (later,) = s.events.apply_batch([update(s, "1002", "e3", seconds=23 * 3600)])
    assert later.outcome is Outcome.APPLIED


def test_text_no_database_stores_is_rejected_alone(s: Services) -> None:
    nul = UserUpdate("e2", s.clock(), "10\x0002", profile(), False)
    results = s.events.apply_batch([update(s, "1001", "e1"), nul])
    assert results[1].outcome is Outcome.REJECTED
    assert results[1].reason.endswith("which cannot be stored")
    assert s.uow.state.log[1].login is None  # the unstorable login is not kept either
    assert set(s.uow.state.world.users) == {"1001"}


@pytest.mark.parametrize("uid_password", [True, False])
def test_a_new_users_password_follows_user_password_set_uid(
    s: Services, uid_password: bool
) -> None:
    s.admin.set_parameter(USER_PASSWORD_SET_UID, "1" if uid_password else "0", actor="t")
    s.events.apply_batch([update(s, "1001", "e1")])
    stored = s.uow.state.accounts["1001"].password_hash
    assert s.hasher.needs_rehash(stored)  # the light initial profile
    assert s.hasher.verify(stored, "1001") is uid_password


def test_a_failure_while_persisting_leaves_nothing_behind(
    s: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    s.events.apply_batch([update(s, "1001", "e1")])
    before = (dict(s.uow.state.world.users), list(s.uow.state.log), s.uow.database.commits)

    def refuse(*_: object, **__: object) -> None:
        raise RuntimeError("the database refused")

    monkeypatch.setattr("tests.unit.fakes.FakeLog.append", refuse)
    with pytest.raises(RuntimeError, match="refused"):
        s.events.apply_batch([phone(s, "1001", PhoneStatus.BUSY, "e2"), update(s, "1002", "e3")])
    assert (dict(s.uow.state.world.users), list(s.uow.state.log), s.uow.database.commits) == before


# ---- accounts and sessions -------------------------------------------------------------------


def test_first_start_generates_credentials_once(s: Services) -> None:
    generated = s.accounts.ensure_credentials(
        module_login=None, module_password=None, admin_password=None
    )
    assert [(g.role, g.login) for g in generated] == [
        (MODULE, "starface-module"),
        (SYSADMIN, SYSADMIN),
    ]
    assert all(len(g.password) >= 20 for g in generated)
    stored = s.uow.state.credentials
    assert all(g.password not in stored[g.role].password_hash for g in generated)
    assert (
        s.accounts.ensure_credentials(module_login=None, module_password=None, admin_password=None)
        == []
    )
    module = generated[0]
    assert s.accounts.open_module_session(module.login, module.password) is not None


def test_a_rotated_password_or_login_follows_the_configuration_and_ends_sessions(
    s: Services,
) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="old-pass", admin_password="a")
    opened = s.accounts.open_module_session("m", "old-pass")
    assert opened is not None
    s.accounts.ensure_credentials(module_login="m", module_password="new-pass", admin_password="a")
    assert not s.accounts.touch_module_session(opened.session_id)
    assert s.accounts.open_module_session("m", "old-pass") is None
    assert s.accounts.open_module_session("m", "new-pass") is not None
    kept = s.accounts.open_module_session("m", "new-pass")
    assert kept is not None
    s.accounts.ensure_credentials(module_login="m2", module_password=None, admin_password=None)
    assert not s.accounts.touch_module_session(kept.session_id)  # the old login's sessions end
    assert s.accounts.open_module_session("m", "new-pass") is None
    assert s.accounts.open_module_session("m2", "new-pass") is not None


def test_a_rotated_sysadmin_password_ends_the_sysadmin_tokens_only(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="old")
    s.events.apply_batch([update(s, "1001", "e1")])
    root, agent = s.accounts.sign_in(SYSADMIN, "old"), s.accounts.sign_in("1001", "1001")
    assert root is not None and agent is not None
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="new")
    assert s.accounts.principal_for(root) is None
    assert s.accounts.principal_for(agent) is not None
    assert s.accounts.sign_in(SYSADMIN, "new") is not None


def test_a_module_session_expires_after_the_idle_time_and_slides_with_use(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="a")
    assert s.accounts.open_module_session("m", "wrong") is None
    assert s.accounts.open_module_session("x", "pw") is None
    s.admin.set_parameter(SESSION_EXPIRE_SECONDS, "10", actor="t")
    used = s.accounts.open_module_session("m", "pw")
    idle = s.accounts.open_module_session("m", "pw")
    assert used is not None and idle is not None and used.expires_in_seconds == 10
    s.clock.advance(6)
    assert s.accounts.touch_module_session(used.session_id)
    # a batch sent with the session writes its use, in the batch's own transaction
    s.events.submit([update(s, "1001", "e1")], session_hash=token_hash(used.session_id)).result()
    s.clock.advance(5)  # 11 s after opening, 5 s after the last use
    assert s.accounts.touch_module_session(used.session_id)
    assert not s.accounts.touch_module_session(idle.session_id)
    assert s.accounts.close_session(used.session_id, MODULE)
    assert not s.accounts.touch_module_session(used.session_id)
    assert not s.accounts.close_session(used.session_id, MODULE)


def test_a_known_session_is_answered_from_memory_for_a_second_at_most(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="a")
    opened = s.accounts.open_module_session("m", "pw")
    assert opened is not None
    assert s.accounts.known_module_session(opened.session_id) is None  # not verified yet
    assert s.accounts.touch_module_session(opened.session_id)
    opened_before = s.uow.opened
    assert s.accounts.known_module_session(opened.session_id) == token_hash(opened.session_id)
    s.clock.advance(0.9)
    assert s.accounts.known_module_session(opened.session_id) is not None
    assert s.uow.opened == opened_before  # from memory: no unit of work at all
    # ended by another instance: this one learns it when it verifies again, a second on
    s.uow.state.sessions.clear()
    s.clock.advance(0.2)
    assert s.accounts.known_module_session(opened.session_id) is None
    assert not s.accounts.touch_module_session(opened.session_id)


def test_api_tokens_carry_rights_read_now_and_end_with_idle_time_or_user(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="adm")
    assert s.accounts.sign_in(SYSADMIN, "wrong") is None
    root = s.accounts.sign_in(SYSADMIN, "adm")
    assert root is not None
    principal = s.accounts.principal_for(root)
    assert principal is not None and (principal.username, principal.admin) == (SYSADMIN, True)

    s.admin.set_parameter(IGNORE_USER_SECURITY, "0", actor="t")
    s.events.apply_batch([update(s, "1001", "e1", admin=True)])
    assert s.accounts.sign_in("1001", "wrong") is None
    assert s.accounts.sign_in("nobody", "nobody") is None
    token = s.accounts.sign_in("1001", "1001")
    assert token is not None
    assert not s.hasher.needs_rehash(s.uow.state.accounts["1001"].password_hash)  # now strong
    assert s.accounts.principal_for(token) == replace(principal, username="1001")
    revoke = replace(update(s, "1001", "e2", seconds=1), admin=False)
    s.events.apply_batch([revoke])
    agent = s.accounts.principal_for(token)
    assert agent is not None and agent.admin is False  # read on every request

    s.clock.advance(8 * 3600 - 1)
    assert s.accounts.principal_for(token) is not None  # used: the idle time starts again
    s.clock.advance(8 * 3600 + 1)
    assert s.accounts.principal_for(token) is None
    assert s.accounts.principal_for("made-up") is None


def test_a_token_ends_with_its_user_and_with_a_recreation(s: Services) -> None:
    s.admin.set_parameter(IGNORE_USER_DELETES, "0", actor="t")
    s.events.apply_batch([update(s, "1001", "e1")])
    token = s.accounts.sign_in("1001", "1001")
    assert token is not None and s.accounts.principal_for(token) is not None
    s.events.apply_batch([UserDelete("e3", s.clock() + timedelta(seconds=2), "1001")])
    assert s.accounts.principal_for(token) is None
    s.clock.advance(5)
    s.events.apply_batch([update(s, "1001", "e4", seconds=1)])  # the same login again
    assert s.accounts.principal_for(token) is None


def test_token_use_is_written_at_most_once_a_minute(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="adm")
    token = s.accounts.sign_in(SYSADMIN, "adm")
    assert token is not None
    record = s.uow.state.sessions[token_hash(token)]
    s.clock.advance(59)
    s.accounts.principal_for(token)
    assert s.uow.state.sessions[token_hash(token)].last_used_at == record.last_used_at
    s.clock.advance(2)
    s.accounts.principal_for(token)
    assert s.uow.state.sessions[token_hash(token)].last_used_at == s.clock()


def test_a_new_password_ends_that_users_tokens_only(s: Services) -> None:
    s.events.apply_batch([update(s, "1001", "e1"), update(s, "1002", "e2")])
    mine, theirs = s.accounts.sign_in("1001", "1001"), s.accounts.sign_in("1002", "1002")
    assert mine is not None and theirs is not None
    assert s.accounts.set_user_password("1001", "a-new-passphrase")
    assert s.accounts.principal_for(mine) is None
    assert s.accounts.principal_for(theirs) is not None
    assert s.accounts.sign_in("1001", "a-new-passphrase") is not None
    assert not s.accounts.set_user_password("nobody", "a-new-passphrase")
    assert {r.kind for r in s.uow.state.sessions.values()} == {API}


# ---- administration --------------------------------------------------------------------------


def test_parameters_are_validated_recorded_once_and_named_short_or_long(s: Services) -> None:
    with pytest.raises(InvalidParameter, match="must be 0 or 1"):
        s.admin.set_parameter(IGNORE_USER_STATUS, "yes", actor="t")
    assert s.admin.set_parameter("IgnoreUserStatus", " 0 ", actor="ann") == ("1", "0")
    assert s.admin.set_parameter(IGNORE_USER_STATUS, "0", actor="ben") == ("0", "0")
    changes = s.uow.state.parameter_changes
    assert [(c.name, c.old_value, c.new_value, c.actor) for c in changes] == [
        (IGNORE_USER_STATUS, "1", "0", "ann")
    ]
    values = {p.name: p.value for p in s.admin.list_parameters()}
    assert values[IGNORE_USER_STATUS] == "0"


def test_a_corrupt_stored_parameter_is_reported_and_not_read_as_zero(s: Services) -> None:
    s.uow.state.parameters[IGNORE_USER_STATUS] = "true"
    (problem,) = s.admin.parameter_problems()
    assert problem.name == IGNORE_USER_STATUS and problem.default == "1"
    s.events.apply_batch([update(s, "1001", "e1")])
    (result,) = s.events.apply_batch(
        [UserStatusChange("e2", s.clock() + timedelta(seconds=1), "1001", LoginStatus.LOGGED_IN)]
    )
    assert (result.outcome, result.reason) == (Outcome.IGNORED, f"ignored: {IGNORE_USER_STATUS}=1")


def test_a_manual_acd_status_is_logged_and_leaves_the_acd_clock(s: Services) -> None:
    assert not s.admin.set_acd_status("nobody", AcdStatus.PAUSE, actor="ann")
    s.admin.set_parameter(IGNORE_USER_STATUS, "0", actor="t")
    login_at = s.clock() + timedelta(seconds=1)
    s.events.apply_batch(
        [update(s, "1001", "e1"), UserStatusChange("e2", login_at, "1001", LoginStatus.LOGGED_IN)]
    )
    s.clock.advance(60)
    assert s.admin.set_acd_status("1001", AcdStatus.PAUSE, actor="ann")
    user = s.uow.state.world.users["1001"]
    assert (user.acd_status, user.acd_at) == (AcdStatus.PAUSE, login_at)
    entry = s.uow.state.log[-1]
    assert (entry.type, entry.login, entry.outcome, entry.reason) == (
        ManualChange.ACD_STATUS_SET,
        "1001",
        Outcome.APPLIED,
        "ACD status CALLS_AND_MEDIA -> PAUSE set by ann",
    )


# ---- the import ------------------------------------------------------------------------------


def pbx_user(uid: int, login: str, *, admin: bool = False, first: str = "Anna") -> PbxUser:
    return PbxUser(uid, login, first, "Müller", f"{login}@example.com", "de", admin, ("20001",))


SNAPSHOT = PbxSnapshot(
    users=(pbx_user(1, "1001"), pbx_user(2, "1002", admin=True), pbx_user(3, "1003")),
    groups=(PbxGroup(10, "Support", ("1001", "1002")),),
)


def test_an_import_creates_then_a_second_one_writes_nothing(s: Services) -> None:
    report = s.importer.run(lambda: SNAPSHOT)
    assert (sorted(report.created), report.changes) == (["1001", "1002", "1003"], 3)
    assert report.ignored == {
        "Portal.WebServices.Starface.IgnoreGroupUpdate": 1,
        IGNORE_USER_SECURITY: 1,  # the PBX administrator is not one in jtel
    }
    logged = len(s.uow.state.log)
    world = s.uow.state.world.users
    again = s.importer.run(lambda: SNAPSHOT)
    assert (again.changes, again.unchanged) == (0, 3)
    assert again.ignored == report.ignored  # the same count on every run
    assert len(s.uow.state.log) == logged and s.uow.state.world.users == world
    assert [(r.status, r.summary is not None) for r in s.uow.state.imports] == [
        ("done", True),
        ("done", True),
    ]


def test_a_dry_run_writes_nothing_but_its_record(s: Services) -> None:
    report = s.importer.run(lambda: SNAPSHOT, dry_run=True)
    assert len(report.created) == 3
    assert s.uow.state.world.users == {} and s.uow.state.log == []
    assert [(r.dry_run, r.status) for r in s.uow.state.imports] == [(True, "done")]


def test_imports_never_overlap_and_a_failed_one_is_recorded(s: Services) -> None:
    def failing() -> PbxSnapshot:
        raise PbxUnreachable("STARFACE is unreachable")

    with pytest.raises(PbxUnreachable):
        s.importer.run(failing)
    assert [r.status for r in s.uow.state.imports] == ["failed"]

    def nested() -> PbxSnapshot:
        with pytest.raises(ImportBusy, match="already running"):
            s.importer.run(lambda: SNAPSHOT)  # this instance: its lock
        other = Importer(s.uow, s.clock, s.hasher)  # another instance: the lease
        with pytest.raises(ImportBusy, match="still running"):
            other.run(lambda: SNAPSHOT)
        return SNAPSHOT

    assert len(s.importer.run(nested).created) == 3
    s.uow.state.imports.append(replace(s.uow.state.imports[-1], id=3, status="running"))
    s.clock.advance(3601)  # a crashed run's lease lapses after an hour
    assert s.importer.run(lambda: SNAPSHOT).changes == 0


def test_an_empty_user_list_never_deletes_everyone(s: Services) -> None:
    s.admin.set_parameter(IGNORE_USER_DELETES, "0", actor="t")
    s.importer.run(lambda: SNAPSHOT)
    with pytest.raises(ImportRefused, match="refusing to delete all 3 jtel users"):
        s.importer.run(lambda: PbxSnapshot((), ()))
    assert set(s.uow.state.world.users) == {"1001", "1002", "1003"}


def test_a_live_event_committed_between_plan_and_write_still_wins(s: Services) -> None:
    """Another writer between the import's plan and its write: the import decides again
    against fresh state, so the newer live change is kept and the user reported stale."""
    s.importer.run(lambda: SNAPSHOT)
    live = replace(update(s, "1001", "live", seconds=3600), profile=profile("Live"))
    s.uow.before_locked += [lambda: None, lambda: s.events.apply_batch([live])]
    renamed = replace(
        SNAPSHOT, users=tuple(replace(u, first_name="Imported") for u in SNAPSHOT.users)
    )
    s.clock.advance(60)
    steps: list[tuple[str, int, int]] = []
    report = s.importer.run(lambda: renamed, progress=lambda *step: steps.append(step))
    assert steps[-1] == ("apply", 3, 3)
    assert report.stale == ["1001"]
    assert sorted(report.updated) == ["1002", "1003"]
    users = s.uow.state.world.users
    assert users["1001"].profile.first_name == "Live"
    assert users["1002"].profile.first_name == "Imported"


def test_groups_followed_are_created_updated_and_counted_with_progress(s: Services) -> None:
    s.admin.set_parameter("IgnoreGroupUpdate", "0", actor="t")
    seen: list[tuple[str, int, int]] = []
    report = s.importer.run(lambda: SNAPSHOT, progress=lambda *step: seen.append(step))
    assert (report.groups_created, report.groups_updated) == (["10"], [])
    assert seen == [("fetch", 0, 1), ("fetch", 1, 1), ("apply", 4, 4)]
    moved = replace(
        SNAPSHOT,
        groups=(PbxGroup(10, "Support", ("1003",)), PbxGroup(11, "Sales", ())),
    )
    s.clock.advance(60)
    report = s.importer.run(lambda: moved)
    assert (report.groups_created, report.groups_updated, report.groups_unchanged) == (
        ["11"],
        ["10"],
        0,
    )
    assert s.uow.state.world.groups["10"].members == ("1003",)
    s.clock.advance(60)
    assert s.importer.run(lambda: moved).groups_unchanged == 2


def test_a_pbx_record_no_database_can_store_is_rejected_and_the_rest_imported(
    s: Services,
) -> None:
    broken = replace(SNAPSHOT, users=(*SNAPSHOT.users, pbx_user(4, "10\x0004")))
    report = s.importer.run(lambda: broken)
    assert report.rejected == ["10\x0004"]
    assert report.details[0]["reason"].endswith("which cannot be stored")
    assert sorted(report.created) == ["1001", "1002", "1003"]


def test_the_member_limit_is_the_one_the_services_are_given(s: Services) -> None:
    """STARFACE_CONNECTOR_MAX_GROUP_MEMBERS reaches the rules from the events and the import."""
    s.admin.set_parameter("IgnoreGroupUpdate", "0", actor="t")
    limits = Limits(max_group_members=1)
    events = EventService(s.uow, s.clock, s.hasher, ParameterCache(s.uow, s.clock), limits)
    at = s.clock() + timedelta(seconds=1)
    (result,) = events.apply_batch([GroupUpdate("g-e", at, "7", "Pair", ("a", "b"))])
    assert (result.outcome, result.notes[0].why) == (Outcome.REJECTED, Why.TOO_MANY_MEMBERS)
    report = Importer(s.uow, s.clock, s.hasher, limits=limits).run(lambda: SNAPSHOT)
    assert report.rejected == ["10"]  # Support has two members
    assert sorted(report.created) == ["1001", "1002", "1003"]
    assert "10" not in s.uow.state.world.groups


def test_a_scheduled_import_survives_a_busy_lease_and_a_failing_pbx(
    s: Services, caplog: pytest.LogCaptureFixture
) -> None:
    def down() -> PbxSnapshot:
        raise PbxUnreachable("STARFACE at pbx is unreachable")

    s.uow.state.imports.append(ImportRun(1, s.clock(), "cli", False))  # another instance's
    scheduler = ImportScheduler(s.importer, lambda: SNAPSHOT, 60)
    with caplog.at_level(logging.INFO, logger="starface_connector.import"):
        scheduler.run_once()
        s.uow.state.imports[0].status = "done"
        ImportScheduler(s.importer, down, 60).run_once()
        scheduler.run_once()
    assert [r.message for r in caplog.records] == [
        "scheduled import skipped: import 1 is still running",
        "scheduled import failed: STARFACE at pbx is unreachable",
        "import: 3 created, 0 updated, 0 deleted, 0 unchanged, 0 group changes",
    ]
    assert [(r.trigger, r.status) for r in s.uow.state.imports] == [
        ("cli", "done"),
        ("schedule", "failed"),
        ("schedule", "done"),
    ]


def test_console_sessions_idle_out_after_half_an_hour_and_are_no_api_tokens(s: Services) -> None:
    s.events.apply_batch([update(s, "1001", "e1")])
    console = s.accounts.sign_in("1001", "1001", CONSOLE)
    api = s.accounts.sign_in("1001", "1001")
    assert console is not None and api is not None
    assert s.accounts.principal_for(console) is None  # a console session is no bearer token
    assert s.accounts.principal_for(api, CONSOLE) is None  # and the other way round
    s.clock.advance(29 * 60)
    assert s.accounts.principal_for(console, CONSOLE) is not None
    s.clock.advance(31 * 60)
    assert s.accounts.principal_for(console, CONSOLE) is None
    assert s.accounts.principal_for(api) is not None


def test_changing_ones_own_password_needs_the_old_one_and_ends_every_sign_in(
    s: Services,
) -> None:
    s.events.apply_batch([update(s, "1001", "e1")])
    console, api = s.accounts.sign_in("1001", "1001", CONSOLE), s.accounts.sign_in("1001", "1001")
    assert console is not None and api is not None
    assert not s.accounts.change_own_password("1001", "wrong", "a-new-passphrase")
    assert s.accounts.principal_for(api) is not None
    assert s.accounts.change_own_password("1001", "1001", "a-new-passphrase")
    assert s.accounts.principal_for(api) is None
    assert s.accounts.principal_for(console, CONSOLE) is None
    assert s.accounts.sign_in("1001", "1001") is None
    assert s.accounts.sign_in("1001", "a-new-passphrase", CONSOLE) is not None
    assert not s.accounts.change_own_password("nobody", "x", "a-new-passphrase")


def test_a_snapshot_is_dated_by_the_pbx_or_else_the_clock_less_the_tolerance(s: Services) -> None:
    """Issue 10: imports are stamped on the PBX's clock (its Date header); a PBX that does not
    say gets the connector's clock minus a tolerance, so a live change just after the import
    is not judged stale against a clock that runs ahead."""
    pbx_time = s.clock() - timedelta(minutes=2)
    assert s.importer.run(lambda: replace(SNAPSHOT, taken_at=pbx_time)).taken_at == pbx_time
    s.clock.advance(60)
    undated = s.importer.run(lambda: SNAPSHOT)
    assert undated.taken_at == s.clock() - timedelta(minutes=5)
    assert (
        Importer(s.uow, s.clock, s.hasher, clock_tolerance=timedelta(0))
        .run(lambda: SNAPSHOT)
        .taken_at
        == s.clock()
    )


def test_a_parameter_change_reaches_another_instance_within_a_second(s: Services) -> None:
    """This process sees its own change at once; another instance (its own cache, the same
    database) within a second, when it reads the parameters again."""
    other_parameters = ParameterCache(s.uow, s.clock)
    other = Administration(s.uow, s.clock, other_parameters)
    s.events.apply_batch([update(s, "1001", "e1")])
    status = UserStatusChange("e2", s.clock() + timedelta(seconds=1), "1001", LoginStatus.LOGGED_IN)
    s.clock.advance(0.5)
    other.set_parameter(IGNORE_USER_STATUS, "0", actor="t")  # on the other instance
    assert other_parameters.get().ignore_user_status is False  # there at once
    (before,) = s.events.apply_batch([status])
    assert before.outcome is Outcome.IGNORED  # here still, for up to a second
    s.clock.advance(0.6)
    (after,) = s.events.apply_batch([replace(status, event_id="e3")])
    assert after.outcome is Outcome.APPLIED


# ---- login throttling --------------------------------------------------------------------


def throttled_for(call: Callable[[], object]) -> int:
    with pytest.raises(LoginThrottled) as refused:
        call()
    return refused.value.retry_after


def test_ten_failed_logins_lock_the_account_without_argon2_then_back_off(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="adm")
    for n in range(10):
        assert s.accounts.sign_in(SYSADMIN, f"wrong{n}", address=f"10.0.0.{n}") is None
    verified = s.hasher.verifications
    # the account is locked, from any address, for any password, the right one too
    assert throttled_for(lambda: s.accounts.sign_in(SYSADMIN, "adm", address="10.9.9.9")) == 30
    assert throttled_for(lambda: s.accounts.sign_in(SYSADMIN, "x", CONSOLE)) == 30
    assert s.hasher.verifications == verified  # a throttled attempt runs no argon2 at all
    assert (s.accounts.guard.failures, s.accounts.guard.refusals) == (10, 2)
    (audit,) = [e for e in s.uow.state.log if e.type == ManualChange.LOGIN_THROTTLED]
    assert (audit.source, audit.login, audit.outcome) == ("api", SYSADMIN, Outcome.REJECTED)
    assert audit.notes == (note(Why.THROTTLED_ACCOUNT, login=SYSADMIN, seconds=30, failures=10),)
    s.clock.advance(29)
    assert throttled_for(lambda: s.accounts.sign_in(SYSADMIN, "adm")) == 1
    s.clock.advance(1)
    assert s.accounts.sign_in(SYSADMIN, "wrong") is None  # one more failure: twice as long
    assert throttled_for(lambda: s.accounts.sign_in(SYSADMIN, "adm")) == 60
    s.clock.advance(60)
    assert s.accounts.sign_in(SYSADMIN, "adm") is not None  # and the success clears the count
    for _ in range(9):
        assert s.accounts.sign_in(SYSADMIN, "wrong") is None
    assert s.accounts.sign_in(SYSADMIN, "adm") is not None


def test_an_address_is_locked_across_accounts_and_ways_in(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="adm")
    s.events.apply_batch([update(s, "1001", "e1")])
    for n in range(4):
        assert s.accounts.sign_in(f"guess{n}", "x", address="192.0.2.7") is None
        assert s.accounts.open_module_session(f"m{n}", "x", address="192.0.2.7") is None
    assert not s.accounts.change_own_password("1001", "x", "newpassword", address="192.0.2.7")
    assert s.accounts.sign_in("1001", "wrong", CONSOLE, address="192.0.2.7") is None
    assert throttled_for(lambda: s.accounts.sign_in("1001", "1001", address="192.0.2.7")) == 30
    wait = throttled_for(lambda: s.accounts.open_module_session("m", "pw", address="192.0.2.7"))
    assert wait == 30
    # another address is not concerned, and the user's own count is at 2 only
    assert s.accounts.sign_in("1001", "1001", address="192.0.2.8") is not None
    assert s.accounts.open_module_session("m", "pw", address="192.0.2.8") is not None
    (audit,) = [e for e in s.uow.state.log if e.type == ManualChange.LOGIN_THROTTLED]
    assert (audit.source, audit.login) == ("console", None)
    assert audit.reason == "logins from 192.0.2.7 refused for 30 s: 10 failed logins"


def test_the_module_account_and_a_users_own_password_change_are_throttled(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="adm")
    s.events.apply_batch([update(s, "1001", "e1")])
    for _ in range(10):
        assert s.accounts.open_module_session("m", "wrong") is None
        assert not s.accounts.change_own_password("1001", "wrong", "newpassword")
    assert throttled_for(lambda: s.accounts.open_module_session("m", "pw")) == 30
    assert throttled_for(lambda: s.accounts.change_own_password("1001", "1001", "newpw123")) == 30
    assert throttled_for(lambda: s.accounts.sign_in("1001", "1001")) == 30
    assert s.accounts.sign_in(SYSADMIN, "adm") is not None  # another account: not concerned
    kinds = [(e.source, e.login) for e in s.uow.state.log if e.type == "LOGIN_THROTTLED"]
    assert kinds == [("starface", "m"), ("api", "1001")]


def test_failures_older_than_the_lookback_are_deleted_as_new_ones_come(s: Services) -> None:
    s.accounts.ensure_credentials(module_login="m", module_password="pw", admin_password="adm")
    for _ in range(5):
        s.accounts.sign_in("nobody", "x", address="10.0.0.1")
    assert len(s.uow.state.login_failures) == 10  # each failure under address and account
    s.clock.advance(LOOKBACK.total_seconds() + 1)
    s.accounts.sign_in("nobody", "x", address="10.0.0.1")
    assert len(s.uow.state.login_failures) == 2


def test_the_initial_password_is_learnt_at_sign_in(s: Services) -> None:
    s.events.apply_batch([update(s, "1001", "e1")])
    assert not s.accounts.initial_password("1001")  # not known before a sign-in
    assert s.accounts.sign_in("1001", "1001") is not None
    assert s.accounts.initial_password("1001")
    assert s.accounts.change_own_password("1001", "1001", "a better one")
    assert not s.accounts.initial_password("1001")
    assert s.accounts.set_user_password("1001", "1001")  # an administrator sets it back
    assert s.accounts.initial_password("1001")
    assert not s.accounts.initial_password("nobody")
