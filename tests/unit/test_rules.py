"""The rule book without a database: ``decide`` / ``apply`` and the parameter definitions.

Example tables pin every event type against every parameter that can decide it, with the exact
reason; Hypothesis then runs random event sequences against a small reference model of the
rules as the issue states them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import product
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from starface_connector.domain import parameters as P
from starface_connector.domain.model import (
    TELEPHONY_STATES,
    AcdStatus,
    Aspect,
    Clock,
    CreateUser,
    Decision,
    DeleteUser,
    DndStatusChange,
    Event,
    GroupState,
    GroupUpdate,
    LoginStatus,
    Outcome,
    PasswordPolicy,
    PhoneStatus,
    PhoneStatusChange,
    Profile,
    SetAcdStatus,
    SetAdmin,
    SetDnd,
    SetPhoneStatus,
    TelephonyState,
    UpdateProfile,
    UpsertGroup,
    UserDelete,
    UserState,
    UserStatusChange,
    UserUpdate,
    phone_status_of,
)
from starface_connector.domain.parameters import InvalidParameter, Parameters
from starface_connector.domain.rules import Limits, World, apply, decide

PFX = "Portal.WebServices.Starface."
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
FLAGS = ("IgnoreGroupUpdate", "IgnoreUserDeletes", "IgnoreUserSecurity", "IgnoreUserStatus")


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(seconds: int) -> str:
    return at(seconds).isoformat()


def params(**flags: int) -> Parameters:
    """Parameters as jtel stores them: short names, values 0/1; the rest standard."""
    return Parameters.from_strings({PFX + name: str(value) for name, value in flags.items()})


def profile(first: str = "Anna", **overrides: Any) -> Profile:
    base = Profile(first, "Müller", "anna@example.com", "de", ("+49 30 1001",))
    return replace(base, **overrides)


def world() -> World:
    """u1 plain agent, u2 on calls and media, p on pause, each with clocks at 10 s; group g1."""
    clocks: dict[str, Any] = {"profile_at": at(10), "acd_at": at(10), "phone_at": at(10)}
    return World(
        users={
            "u1": UserState("u1", profile(), admin=False, **clocks),
            "u2": UserState(
                "u2", profile("Ben"), True, AcdStatus.CALLS_AND_MEDIA, PhoneStatus.IDLE, **clocks
            ),
            "p": UserState("p", profile("Pia"), False, AcdStatus.PAUSE, PhoneStatus.BUSY, **clocks),
        },
        deleted_at={"gone": at(10)},
        groups={"g1": GroupState("g1", "Sales", ("u1",), at(10))},
        seen={"old-event"},
    )


def update(login: str = "u1", t: int = 20, eid: str = "e1", **kw: Any) -> UserUpdate:
    admin = kw.pop("admin", False)
    return UserUpdate(eid, at(t), login, kw.pop("profile", profile()), admin)


def delete(login: str = "u1", t: int = 20, eid: str = "e1") -> UserDelete:
    return UserDelete(eid, at(t), login)


def group(gid: str = "g1", name: str = "Sales", members: tuple[str, ...] = ("u1",), t: int = 20):
    return GroupUpdate("e1", at(t), gid, name, members)


def status(login: str, s: LoginStatus, t: int = 20, eid: str = "e1") -> UserStatusChange:
    return UserStatusChange(eid, at(t), login, s)


def phone(login: str, s: PhoneStatus, t: int = 20, eid: str = "e1") -> PhoneStatusChange:
    return PhoneStatusChange(eid, at(t), login, s)


def said(decision: Decision) -> tuple[Outcome, str, tuple[Any, ...], Clock | None]:
    """What a decision tells: outcome, reason (its English text), changes and clock."""
    return (decision.outcome, decision.reason, decision.changes, decision.clock)


def run(event: Event, w: World, p: Parameters) -> Decision:
    decision = decide(event, w, p)
    apply(w, event, decision)
    return decision


# ---- USER_UPDATE ----------------------------------------------------------------------------

PW_UID = f"password = UsersUID ({PFX}UserPasswordSetUID=1)"
PW_RANDOM = f"random password, to be set by the administrator ({PFX}UserPasswordSetUID=0)"
ADMIN_NOT_TAKEN = f"admin flag not taken ({PFX}IgnoreUserSecurity=1)"
SEC0 = f"({PFX}IgnoreUserSecurity=0)"
SEC1 = f"({PFX}IgnoreUserSecurity=1)"
STATUS0 = f"{PFX}IgnoreUserStatus=0"
GROUP0 = f"({PFX}IgnoreGroupUpdate=0)"
UID, RANDOM = PasswordPolicy.USERS_UID, PasswordPolicy.RANDOM
IN, OUT = LoginStatus.LOGGED_IN, LoginStatus.LOGGED_OUT
CALLS, OFF = AcdStatus.CALLS_AND_MEDIA, AcdStatus.LOGGED_OFF


@pytest.mark.parametrize(
    ("security", "set_uid", "event_admin", "admin", "policy", "reason"),
    [
        (1, 1, True, False, UID, f"{PW_UID}; {ADMIN_NOT_TAKEN}"),
        (1, 1, False, False, UID, f"{PW_UID}; {ADMIN_NOT_TAKEN}"),
        (1, 0, True, False, RANDOM, f"{PW_RANDOM}; {ADMIN_NOT_TAKEN}"),
        (0, 1, True, True, UID, f"{PW_UID}; admin=yes {SEC0}"),
        (0, 1, False, False, UID, f"{PW_UID}; admin=no {SEC0}"),
        (0, 0, True, True, RANDOM, f"{PW_RANDOM}; admin=yes {SEC0}"),
    ],
)
def test_user_update_creates_unknown_user(
    security: int, set_uid: int, event_admin: bool, admin: bool, policy: PasswordPolicy, reason: str
) -> None:
    w = world()
    p = params(IgnoreUserSecurity=security, UserPasswordSetUID=set_uid)
    new = profile("Carl", email="carl@example.com")
    decision = run(update("1001", t=5, profile=new, admin=event_admin), w, p)
    assert decision.outcome is Outcome.APPLIED
    assert decision.reason == f"created user 1001; {reason}"
    assert decision.changes == (CreateUser("1001", new, admin, policy),)
    assert w.users["1001"] == UserState(
        "1001", new, admin, AcdStatus.LOGGED_OFF, PhoneStatus.OFFLINE, profile_at=at(5)
    )


@pytest.mark.parametrize(("flag", "value"), list(product(FLAGS[:2] + FLAGS[3:], (0, 1))))
def test_user_update_unaffected_by_other_parameters(flag: str, value: int) -> None:
    decision = decide(update("1001"), world(), params(**{flag: value}))
    assert decision.outcome is Outcome.APPLIED
    assert decision.reason == f"created user 1001; {PW_UID}; {ADMIN_NOT_TAKEN}"


@pytest.mark.parametrize(
    ("security", "event_admin", "reason", "changes"),
    [
        (1, False, "no change", ()),
        (0, False, "no change", ()),
        (1, True, f"no change; admin flag not changed {SEC1}", ()),
        (0, True, f"admin flag granted {SEC0}", (SetAdmin("u1", True),)),
    ],
)
def test_user_update_admin_flag_of_known_user(
    security: int, event_admin: bool, reason: str, changes: tuple[Any, ...]
) -> None:
    w = world()
    decision = run(update(admin=event_admin), w, params(IgnoreUserSecurity=security))
    assert (decision.outcome, decision.reason, decision.changes) == (
        Outcome.APPLIED,
        reason,
        changes,
    )
    assert w.users["u1"].admin is (event_admin and security == 0)
    assert w.users["u1"].profile_at == at(20)


@pytest.mark.parametrize(
    ("security", "reason", "admin"),
    [
        (1, f"updated firstName, phoneNumbers; admin flag not changed {SEC1}", True),
        (0, f"updated firstName, phoneNumbers; admin flag revoked {SEC0}", False),
    ],
)
def test_user_update_profile_and_revocation(security: int, reason: str, admin: bool) -> None:
    w = world()
    new = replace(w.users["u2"].profile, first_name="Benno", phone_numbers=("+49 1", "+49 2"))
    decision = run(update("u2", profile=new, admin=False), w, params(IgnoreUserSecurity=security))
    assert decision.reason == reason
    assert decision.changes[0] == UpdateProfile("u2", new, ("firstName", "phoneNumbers"))
    assert w.users["u2"].profile == new
    assert w.users["u2"].admin is admin
    # the ACD and telephone status are not the profile's business
    assert w.users["u2"].acd_status is AcdStatus.CALLS_AND_MEDIA
    assert w.users["u2"].phone_status is PhoneStatus.IDLE


def test_user_update_every_profile_field_is_named() -> None:
    new = Profile("X", "Y", "z@example.com", "en", ())
    decision = decide(update(profile=new), world(), params())
    assert decision.reason == "updated firstName, lastName, email, language, phoneNumbers"


def test_reserved_login_sysadmin_is_rejected_under_any_parameters() -> None:
    for flags in product((0, 1), repeat=5):
        p = params(**dict(zip((*FLAGS, "UserPasswordSetUID"), flags, strict=True)))
        decision = decide(update("sysadmin", admin=True), world(), p)
        assert said(decision) == (
            Outcome.REJECTED,
            "rejected: login 'sysadmin' is reserved for jtel's built-in administrator",
            (),
            None,
        )


# ---- USER_DELETE ----------------------------------------------------------------------------


def test_user_delete_ignored_by_default() -> None:
    w = world()
    decision = run(delete(), w, params(IgnoreUserDeletes=1))
    assert said(decision) == (Outcome.IGNORED, f"ignored: {PFX}IgnoreUserDeletes=1", (), None)
    assert "u1" in w.users
    assert w.groups["g1"].members == ("u1",)


def test_user_delete_applied_removes_user_tombstones_and_leaves_groups() -> None:
    w = world()
    decision = run(delete(t=25), w, params(IgnoreUserDeletes=0))
    assert decision.outcome is Outcome.APPLIED
    assert decision.reason == f"deleted user u1 ({PFX}IgnoreUserDeletes=0)"
    assert decision.changes == (DeleteUser("u1"),)
    assert "u1" not in w.users
    assert w.deleted_at["u1"] == at(25)
    assert w.groups["g1"].members == ()
    assert w.groups["g1"].updated_at == at(10)


@pytest.mark.parametrize(
    ("flag", "value", "make"),
    [
        (flag, value, make)
        for flag in FLAGS
        for value in (0, 1)
        for make in (
            lambda: delete("nobody"),
            lambda: status("nobody", LoginStatus.LOGGED_IN),
            lambda: status("nobody", LoginStatus.LOGGED_OUT),
            lambda: phone("nobody", PhoneStatus.IDLE),
        )
    ],
)
def test_events_for_unknown_login_are_rejected(flag: str, value: int, make: Any) -> None:
    w = world()
    before = copy.deepcopy(w)
    decision = run(make(), w, params(**{flag: value}))
    assert said(decision) == (Outcome.REJECTED, "rejected: unknown user nobody", (), None)
    assert w.users == before.users
    assert w.seen == before.seen | {"e1"}


def test_deleted_user_is_unknown_to_later_events() -> None:
    w = world()
    run(delete(t=20, eid="d"), w, params(IgnoreUserDeletes=0))
    decision = run(
        status("u1", LoginStatus.LOGGED_IN, t=30, eid="s"), w, params(IgnoreUserStatus=0)
    )
    assert decision.reason == "rejected: unknown user u1"


# ---- GROUP_UPDATE ---------------------------------------------------------------------------


def test_group_update_ignored_by_default() -> None:
    w = world()
    decision = run(group("g2", "Support", ("u1", "u2")), w, params(IgnoreGroupUpdate=1))
    assert said(decision) == (Outcome.IGNORED, f"ignored: {PFX}IgnoreGroupUpdate=1", (), None)
    assert "g2" not in w.groups


def test_group_update_creates_group_with_known_members_only() -> None:
    w = world()
    decision = run(
        group("g2", "Support", ("u2", "x9", "u1", "u2", "a0")), w, params(IgnoreGroupUpdate=0)
    )
    assert decision.outcome is Outcome.APPLIED
    assert decision.reason == (
        f"created group g2 'Support' with 2 member(s) {GROUP0}; unknown login(s) not added: a0, x9"
    )
    assert decision.changes == (UpsertGroup("g2", "Support", ("u1", "u2"), created=True),)
    assert w.groups["g2"] == GroupState("g2", "Support", ("u1", "u2"), at(20))


@pytest.mark.parametrize(
    ("name", "members", "reason"),
    [
        ("Sales", ("u1",), f"no change {GROUP0}"),
        ("Sales & Co", ("u1",), f"updated group g1: name 'Sales' -> 'Sales & Co' {GROUP0}"),
        ("Sales", ("u2", "p"), f"updated group g1: added p, u2; removed u1 {GROUP0}"),
        ("Sales", (), f"updated group g1: removed u1 {GROUP0}"),
        ("Sales", ("u1", "ghost"), f"no change {GROUP0}; unknown login(s) not added: ghost"),
    ],
)
def test_group_update_of_known_group(name: str, members: tuple[str, ...], reason: str) -> None:
    w = world()
    decision = run(group("g1", name, members), w, params(IgnoreGroupUpdate=0))
    assert (decision.outcome, decision.reason) == (Outcome.APPLIED, reason)
    assert w.groups["g1"].members == tuple(sorted(set(members) & set(w.users)))
    assert w.groups["g1"].name == name
    assert w.groups["g1"].updated_at == at(20)


def test_group_update_does_not_need_known_users_at_all() -> None:
    decision = decide(group("g9", "Empty", ("ghost",)), World(), params(IgnoreGroupUpdate=0))
    assert (
        decision.reason
        == f"created group g9 'Empty' with 0 member(s) {GROUP0}; unknown login(s) not added: ghost"
    )


@pytest.mark.parametrize("ignore", [0, 1], ids=["IgnoreGroupUpdate=0", "IgnoreGroupUpdate=1"])
def test_a_group_update_over_the_member_limit_is_rejected_and_changes_nothing(ignore: int) -> None:
    w = world()
    settled = copy.deepcopy(w)
    members = ("u1", "u2", "u2", "ghost", "p")  # four distinct
    decision = decide(group("g1", "Sales", members), w, params(IgnoreGroupUpdate=ignore), Limits(3))
    assert (decision.outcome, decision.changes, decision.clock) == (Outcome.REJECTED, (), None)
    assert decision.reason == (
        "rejected: group g1 has 4 members, more than the 3 one event may set "
        "(STARFACE_CONNECTOR_MAX_GROUP_MEMBERS)"
    )
    apply(w, group("g1", "Sales", members), decision)
    assert (w.users, w.groups) == (settled.users, settled.groups)


def test_a_group_update_at_the_member_limit_is_applied() -> None:
    decision = decide(
        group("g1", "Sales", ("u1", "u2", "u2", "ghost")),
        world(),
        params(IgnoreGroupUpdate=0),
        Limits(3),
    )
    assert decision.outcome is Outcome.APPLIED
    assert decision.changes == (UpsertGroup("g1", "Sales", ("u1", "u2"), created=False),)


def test_the_standard_member_limit_is_5000() -> None:
    w = World()
    many = tuple(f"m{i}" for i in range(5001))
    assert decide(group("g", "G", many[:5000]), w, params(IgnoreGroupUpdate=0)).outcome is (
        Outcome.APPLIED
    )
    assert decide(group("g", "G", many), w, params(IgnoreGroupUpdate=0)).outcome is (
        Outcome.REJECTED
    )


# ---- USER_STATUS ----------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["u1", "u2", "p"])
@pytest.mark.parametrize("s", list(LoginStatus))
def test_user_status_ignored_by_default(login: str, s: LoginStatus) -> None:
    w = world()
    decision = run(status(login, s), w, params(IgnoreUserStatus=1))
    assert said(decision) == (Outcome.IGNORED, f"ignored: {PFX}IgnoreUserStatus=1", (), None)
    assert w.users[login] == world().users[login]


@pytest.mark.parametrize(
    ("login", "s", "new", "reason"),
    [
        ("u1", IN, CALLS, f"ACD status LOGGED_OFF -> CALLS_AND_MEDIA (LOGGED_IN; {STATUS0})"),
        ("u1", OUT, OFF, f"no change: already LOGGED_OFF ({STATUS0})"),
        ("u2", IN, CALLS, f"no change: already CALLS_AND_MEDIA ({STATUS0})"),
        ("u2", OUT, OFF, f"ACD status CALLS_AND_MEDIA -> LOGGED_OFF (LOGGED_OUT; {STATUS0})"),
        ("p", IN, AcdStatus.PAUSE, f"no change: LOGGED_IN leaves an agent on PAUSE ({STATUS0})"),
        ("p", OUT, OFF, f"ACD status PAUSE -> LOGGED_OFF (LOGGED_OUT; {STATUS0})"),
    ],
)
def test_user_status_followed(login: str, s: LoginStatus, new: AcdStatus, reason: str) -> None:
    w = world()
    old = w.users[login].acd_status
    decision = run(status(login, s), w, params(IgnoreUserStatus=0))
    assert (decision.outcome, decision.reason) == (Outcome.APPLIED, reason)
    expected = () if old is new else (SetAcdStatus(login, old, new),)
    assert decision.changes == expected
    assert w.users[login].acd_status is new
    assert w.users[login].acd_at == at(20)
    assert w.users[login].phone_status is world().users[login].phone_status


@pytest.mark.parametrize(("flag", "value"), list(product(FLAGS[:3], (0, 1))))
def test_user_status_depends_only_on_ignore_user_status(flag: str, value: int) -> None:
    decision = decide(status("u1", LoginStatus.LOGGED_IN), world(), params(**{flag: value}))
    assert decision.reason == f"ignored: {PFX}IgnoreUserStatus=1"
    decision = decide(
        status("u1", LoginStatus.LOGGED_IN), world(), params(**{flag: value, "IgnoreUserStatus": 0})
    )
    assert decision.outcome is Outcome.APPLIED


# ---- PHONE_STATUS ---------------------------------------------------------------------------


CALL_CYCLE = tuple(s for s in PhoneStatus if s is not PhoneStatus.QUEUE_PAUSE)


# QUEUE_PAUSE also pauses the agent under IgnoreUserStatus=0: tested with the module's states.
@pytest.mark.parametrize("flags", list(product((0, 1), repeat=5)))
@pytest.mark.parametrize("s", CALL_CYCLE)
def test_phone_status_always_followed(flags: tuple[int, ...], s: PhoneStatus) -> None:
    w = world()
    p = params(**dict(zip((*FLAGS, "UserPasswordSetUID"), flags, strict=True)))
    decision = run(phone("u2", s), w, p)
    assert decision.outcome is Outcome.APPLIED
    if s is PhoneStatus.IDLE:
        assert decision.reason == "no change: already IDLE"
        assert decision.changes == ()
    else:
        assert decision.reason == f"telephone status IDLE -> {s}"
        assert decision.changes == (SetPhoneStatus("u2", PhoneStatus.IDLE, s),)
    assert w.users["u2"].phone_status is s
    assert w.users["u2"].phone_at == at(20)
    assert w.users["u2"].acd_status is AcdStatus.CALLS_AND_MEDIA


def test_new_user_is_offline_until_first_phone_event() -> None:
    w = World()
    run(update("n", t=1, eid="a"), w, params())
    assert w.users["n"].phone_status is PhoneStatus.OFFLINE
    assert w.users["n"].acd_status is AcdStatus.LOGGED_OFF
    run(phone("n", PhoneStatus.RINGING, t=2, eid="b"), w, params())
    assert w.users["n"].phone_status is PhoneStatus.RINGING


# ---- duplicate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        update("u1", eid="old-event"),
        update("new-login", eid="old-event"),
        update("sysadmin", eid="old-event"),
        delete("u1", eid="old-event"),
        delete("nobody", eid="old-event"),
        GroupUpdate("old-event", at(20), "g1", "X", ()),
        status("u1", LoginStatus.LOGGED_IN, eid="old-event"),
        phone("u1", PhoneStatus.BUSY, eid="old-event"),
        phone("u1", PhoneStatus.BUSY, t=0, eid="old-event"),
    ],
    ids=lambda e: f"{e.type}-{getattr(e, 'login', '')}",
)
@pytest.mark.parametrize("value", [0, 1])
def test_duplicate_event_changes_nothing(event: Event, value: int) -> None:
    w = world()
    p = params(**{flag: value for flag in (*FLAGS, "UserPasswordSetUID")})
    decision = run(event, w, p)
    assert said(decision) == (
        Outcome.DUPLICATE,
        "duplicate: eventId 'old-event' was already processed",
        (),
        None,
    )
    assert w == world()


def test_every_outcome_marks_the_event_seen() -> None:
    w = world()
    outcomes = [
        run(update("u9", eid="a"), w, params()).outcome,
        run(delete("u9", eid="b"), w, params()).outcome,
        run(delete("ghost", eid="c"), w, params()).outcome,
        run(phone("u1", PhoneStatus.IDLE, t=1, eid="d"), w, params()).outcome,
    ]
    assert outcomes == [Outcome.APPLIED, Outcome.IGNORED, Outcome.REJECTED, Outcome.STALE]
    assert {"a", "b", "c", "d"} <= w.seen
    assert run(update("u9", t=99, eid="a"), w, params()).outcome is Outcome.DUPLICATE


# ---- stale, per aspect ----------------------------------------------------------------------


def stale_reason(aspect: str, t: int, last: int = 10) -> str:
    return f"stale: occurredAt {iso(t)} is older than the last applied {aspect} event ({iso(last)})"


@pytest.mark.parametrize(
    ("event", "p", "aspect"),
    [
        (update("u1", t=9), params(), "profile"),
        (update("u1", t=9, admin=True), params(IgnoreUserSecurity=0), "profile"),
        (delete("u1", t=9), params(IgnoreUserDeletes=0), "profile"),
        (status("u1", LoginStatus.LOGGED_IN, t=9), params(IgnoreUserStatus=0), "ACD status"),
        (status("u2", LoginStatus.LOGGED_OUT, t=9), params(IgnoreUserStatus=0), "ACD status"),
        (phone("u1", PhoneStatus.BUSY, t=9), params(), "phone status"),
        (GroupUpdate("e1", at(9), "g1", "Old", ()), params(IgnoreGroupUpdate=0), "group"),
    ],
    ids=lambda v: getattr(v, "type", None) or str(v)[:12],
)
def test_older_event_of_same_aspect_is_stale(event: Event, p: Parameters, aspect: str) -> None:
    w = world()
    decision = run(event, w, p)
    assert said(decision) == (Outcome.STALE, stale_reason(aspect, 9), (), None)
    expected = world()
    expected.seen.add("e1")
    assert w == expected


@pytest.mark.parametrize(
    "event",
    [
        update("u1", t=10, profile=profile("Same-time")),
        status("u1", LoginStatus.LOGGED_IN, t=10),
        phone("u1", PhoneStatus.BUSY, t=10),
        GroupUpdate("e1", at(10), "g1", "Same-time", ()),
    ],
    ids=lambda e: e.type,
)
def test_event_at_the_same_instant_is_not_stale(event: Event) -> None:
    decision = decide(event, world(), params(IgnoreUserStatus=0, IgnoreGroupUpdate=0))
    assert decision.outcome is Outcome.APPLIED
    assert decision.changes


def test_aspects_keep_separate_clocks() -> None:
    w = world()
    p = params(IgnoreUserStatus=0)
    assert run(update("u1", t=50, eid="a", profile=profile("New")), w, p).outcome is Outcome.APPLIED
    # older than the profile clock, newer than the ACD and phone clocks: both apply
    assert run(status("u1", LoginStatus.LOGGED_IN, t=30, eid="b"), w, p).outcome is Outcome.APPLIED
    assert run(phone("u1", PhoneStatus.BUSY, t=20, eid="c"), w, p).outcome is Outcome.APPLIED
    # and each clock then stands on its own
    assert run(phone("u1", PhoneStatus.IDLE, t=25, eid="d"), w, p).outcome is Outcome.APPLIED
    assert run(phone("u1", PhoneStatus.RINGING, t=24, eid="e"), w, p).outcome is Outcome.STALE
    assert run(status("u1", LoginStatus.LOGGED_OUT, t=29, eid="f"), w, p).outcome is Outcome.STALE
    u = w.users["u1"]
    assert (u.profile.first_name, u.acd_status, u.phone_status) == (
        "New",
        AcdStatus.CALLS_AND_MEDIA,
        PhoneStatus.IDLE,
    )
    assert (u.profile_at, u.acd_at, u.phone_at) == (at(50), at(30), at(25))


def test_clocks_are_per_user_and_per_group() -> None:
    w = world()
    w.groups["g2"] = GroupState("g2", "Other", (), at(100))
    p = params(IgnoreGroupUpdate=0)
    assert run(phone("u1", PhoneStatus.BUSY, t=11, eid="a"), w, p).outcome is Outcome.APPLIED
    assert run(phone("u2", PhoneStatus.BUSY, t=11, eid="b"), w, p).outcome is Outcome.APPLIED
    assert run(GroupUpdate("c", at(50), "g1", "S", ()), w, p).outcome is Outcome.APPLIED
    assert run(GroupUpdate("d", at(50), "g2", "S", ()), w, p).outcome is Outcome.STALE


def test_stale_compares_instants_not_wall_clock_text() -> None:
    w = world()
    # 10:00:09+01:00 is 09:00:09Z: one second before u1's phone clock, so stale
    earlier = datetime(2026, 11, 25, 10, 0, 9, tzinfo=timezone(timedelta(hours=1)))
    assert decide(PhoneStatusChange("x", earlier, "u1", PhoneStatus.BUSY), w, params()).outcome is (
        Outcome.STALE
    )
    later = datetime(2026, 11, 25, 4, 0, 11, tzinfo=timezone(timedelta(hours=-5)))
    assert decide(PhoneStatusChange("x", later, "u1", PhoneStatus.BUSY), w, params()).outcome is (
        Outcome.APPLIED
    )
    microsecond_older = at(10) - timedelta(microseconds=1)
    assert decide(
        PhoneStatusChange("x", microsecond_older, "u1", PhoneStatus.BUSY), w, params()
    ).outcome is (Outcome.STALE)


# ---- tombstones -----------------------------------------------------------------------------


def test_user_update_older_than_the_deletion_does_not_bring_the_user_back() -> None:
    w = world()
    decision = run(update("gone", t=9), w, params())
    assert said(decision) == (
        Outcome.STALE,
        f"stale: user gone was deleted at {iso(10)}, after this event ({iso(9)})",
        (),
        None,
    )
    assert "gone" not in w.users


@pytest.mark.parametrize("t", [10, 11])
def test_user_update_after_the_deletion_recreates_the_user(t: int) -> None:
    w = world()
    decision = run(update("gone", t=t), w, params())
    assert decision.outcome is Outcome.APPLIED
    assert decision.reason.startswith("created user gone;")
    assert w.users["gone"].profile_at == at(t)


def test_delete_then_recreate_then_late_update_from_before_deletion() -> None:
    w = World()
    p = params(IgnoreUserDeletes=0, IgnoreUserStatus=0)
    run(update("a", t=1, eid="1", profile=profile("First")), w, p)
    run(delete("a", t=5, eid="2"), w, p)
    run(update("a", t=8, eid="3", profile=profile("Second")), w, p)
    assert run(update("a", t=3, eid="4", profile=profile("Late")), w, p).outcome is Outcome.STALE
    assert run(update("a", t=6, eid="5", profile=profile("Late")), w, p).outcome is Outcome.STALE
    assert w.users["a"].profile.first_name == "Second"
    assert w.deleted_at["a"] == at(5)


@pytest.mark.parametrize(
    "late",
    [
        status("a", LoginStatus.LOGGED_IN, t=3, eid="late"),
        status("a", LoginStatus.LOGGED_IN, t=6, eid="late"),
        phone("a", PhoneStatus.BUSY, t=3, eid="late"),
        phone("a", PhoneStatus.BUSY, t=6, eid="late"),
    ],
    ids=lambda e: f"{e.type}-{e.occurred_at.second}",
)
def test_status_from_before_a_deletion_does_not_reach_the_recreated_user(late: Event) -> None:
    """The deletion at 7 s logged the agent off; an older status belongs to the old user."""
    w = World()
    p = params(IgnoreUserDeletes=0, IgnoreUserStatus=0)
    run(update("a", t=1, eid="1"), w, p)
    run(status("a", LoginStatus.LOGGED_OUT, t=4, eid="2"), w, p)
    run(phone("a", PhoneStatus.IDLE, t=4, eid="3"), w, p)
    run(delete("a", t=7, eid="4"), w, p)
    run(update("a", t=9, eid="5"), w, p)
    decision = run(late, w, p)
    assert said(decision) == (
        Outcome.STALE,
        f"stale: user a was deleted at {iso(7)}, after this event ({late.occurred_at.isoformat()})",
        (),
        None,
    )
    assert (w.users["a"].acd_status, w.users["a"].phone_status) == (
        AcdStatus.LOGGED_OFF,
        PhoneStatus.OFFLINE,
    )
    # after the deletion, status events apply as usual
    assert run(status("a", LoginStatus.LOGGED_IN, t=7, eid="6"), w, p).outcome is Outcome.APPLIED
    assert run(phone("a", PhoneStatus.BUSY, t=8, eid="7"), w, p).outcome is Outcome.APPLIED
    assert (w.users["a"].acd_status, w.users["a"].phone_status) == (
        AcdStatus.CALLS_AND_MEDIA,
        PhoneStatus.BUSY,
    )


def test_recreated_user_starts_logged_off_and_offline_without_groups() -> None:
    w = world()
    p = params(IgnoreUserDeletes=0, IgnoreUserSecurity=0)
    run(delete("u2", t=20, eid="d"), w, p)
    assert "u2" not in w.users
    run(update("u2", t=21, eid="c", admin=False), w, p)
    u = w.users["u2"]
    assert (u.acd_status, u.phone_status, u.admin) == (
        AcdStatus.LOGGED_OFF,
        PhoneStatus.OFFLINE,
        False,
    )
    assert (u.acd_at, u.phone_at, u.profile_at) == (None, None, at(21))


# ---- apply ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outcome", [Outcome.IGNORED, Outcome.REJECTED, Outcome.STALE, Outcome.DUPLICATE]
)
def test_apply_only_performs_applied_decisions(outcome: Outcome) -> None:
    w = world()
    decision = Decision(outcome, "whatever", (DeleteUser("u1"),))
    apply(w, delete("u1", eid="zz"), decision)
    expected = world()
    expected.seen.add("zz")
    assert w == expected


@pytest.mark.parametrize(
    ("aspect", "key", "attribute"),
    [
        (Aspect.PROFILE, "u1", "profile_at"),
        (Aspect.ACD_STATUS, "u1", "acd_at"),
        (Aspect.PHONE_STATUS, "u1", "phone_at"),
        (Aspect.GROUP, "g1", "updated_at"),
    ],
)
def test_apply_never_moves_a_clock_backwards(aspect: Aspect, key: str, attribute: str) -> None:
    w = world()
    for moment, expected in ((at(5), at(10)), (at(15), at(15))):
        decision = Decision(Outcome.APPLIED, (), (), Clock(aspect, key, moment))
        apply(w, phone("u1", PhoneStatus.BUSY, eid=f"c{moment.second}"), decision)
        holder = w.groups[key] if aspect is Aspect.GROUP else w.users[key]
        assert getattr(holder, attribute) == expected


# ---- parameters -----------------------------------------------------------------------------


def test_the_documented_parameters_and_their_standard_values() -> None:
    """The six parameters of jtel's documentation, and DndPausesAgent (issue 10), off."""
    assert P.DEFAULTS == {
        PFX + "IgnoreGroupUpdate": "1",
        PFX + "IgnoreUserDeletes": "1",
        PFX + "IgnoreUserSecurity": "1",
        PFX + "IgnoreUserStatus": "1",
        PFX + "SessionExpireSeconds": "300",
        PFX + "UserPasswordSetUID": "1",
        PFX + "DndPausesAgent": "0",
    }
    standard = Parameters.standard()
    assert Parameters.from_strings({}) == standard
    assert {spec.name: spec.validate(spec.default) for spec in P.SPECS} == P.DEFAULTS
    assert [getattr(standard, spec.field) for spec in P.SPECS] == [True] * 4 + [300, True, False]
    for spec in P.SPECS:
        assert spec.description == spec.explanation.en
        assert spec.explanation.en and spec.explanation.de and spec.explanation.fr
        assert len({spec.explanation.en, spec.explanation.de, spec.explanation.fr}) == 3


@pytest.mark.parametrize("name", [n for n in P.DEFAULTS if n != P.SESSION_EXPIRE_SECONDS])
@pytest.mark.parametrize(("raw", "canonical"), [("0", "0"), ("1", "1"), (" 1 ", "1"), ("0\n", "0")])
def test_flags_accept_0_and_1(name: str, raw: str, canonical: str) -> None:
    assert P.spec_for(name).validate(raw) == canonical


@pytest.mark.parametrize("name", [n for n in P.DEFAULTS if n != P.SESSION_EXPIRE_SECONDS])
@pytest.mark.parametrize("raw", ["7", "2", "-1", "", " ", "01", "true", "yes", "1.0", "O"])
def test_flags_refuse_anything_else(name: str, raw: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        P.spec_for(name).validate(raw)
    assert str(caught.value) == f"{name} must be 0 or 1, not {raw!r}"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("10", "10"), ("300", "300"), ("86400", "86400"), (" 60 ", "60"), ("0300", "300")],
)
def test_session_seconds_in_range(raw: str, canonical: str) -> None:
    assert P.spec_for(P.SESSION_EXPIRE_SECONDS).validate(raw) == canonical


@pytest.mark.parametrize("raw", ["9", "0", "-300", "86401", "1000000"])
def test_session_seconds_out_of_range(raw: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        P.spec_for(P.SESSION_EXPIRE_SECONDS).validate(raw)
    assert str(caught.value) == (
        f"{P.SESSION_EXPIRE_SECONDS} must be between 10 and 86400 seconds, not {raw!r}"
    )


@pytest.mark.parametrize("raw", ["", "abc", "300.0", "5m", "1e3", "3 00"])
def test_session_seconds_not_a_number(raw: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        P.spec_for(P.SESSION_EXPIRE_SECONDS).validate(raw)
    assert str(caught.value) == (
        f"{P.SESSION_EXPIRE_SECONDS} must be a whole number of seconds, not {raw!r}"
    )


@pytest.mark.parametrize(
    "name",
    ["ignoreuserstatus", "Portal.WebServices.Starface.ignoreuserstatus", "", PFX, PFX + "Other"],
)
def test_unknown_parameter_name(name: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        P.spec_for(name)
    message = str(caught.value)
    assert message.startswith(f"unknown parameter {name!r}; known: ")
    assert all(known in message for known in P.DEFAULTS)


@pytest.mark.parametrize("spec", P.SPECS, ids=lambda spec: spec.short_name)
def test_short_names_name_the_same_parameter(spec: P.ParameterSpec) -> None:
    assert P.spec_for(spec.short_name) is spec is P.spec_for(spec.name)


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        (P.IGNORE_USER_STATUS, "true"),
        (P.IGNORE_USER_DELETES, ""),
        (P.SESSION_EXPIRE_SECONDS, "5"),
        (P.SESSION_EXPIRE_SECONDS, "soon"),
    ],
)
def test_a_corrupt_stored_value_is_reported_and_the_standard_is_used(
    name: str, stored: str
) -> None:
    spec = P.spec_for(name)
    typed, problems = P.read_parameters({name: stored, P.IGNORE_GROUP_UPDATE: "0"})
    assert getattr(typed, spec.field) == spec.typed(spec.default)  # never silently 0
    assert typed.ignore_group_update is False  # the valid neighbour is still read
    (problem,) = problems
    assert (problem.name, problem.stored, problem.default) == (name, stored, spec.default)
    assert str(problem).startswith(f"{name}: the stored value {stored!r} is invalid (")
    assert str(problem).endswith(f"the standard value {spec.default} is used")


def test_invalid_parameter_is_a_value_error() -> None:
    assert issubclass(InvalidParameter, ValueError)


def test_from_strings_reads_every_parameter_and_ignores_strangers() -> None:
    stored = {
        PFX + "IgnoreGroupUpdate": "0",
        PFX + "IgnoreUserDeletes": "0",
        PFX + "IgnoreUserSecurity": "0",
        PFX + "IgnoreUserStatus": "0",
        PFX + "SessionExpireSeconds": "42",
        PFX + "UserPasswordSetUID": "0",
        "Some.Other.Parameter": "1",
    }
    p = Parameters.from_strings(stored)
    assert p == Parameters(False, False, False, False, 42, False, False)
    assert P.read_parameters(stored)[1] == ()
    assert Parameters.from_strings({PFX + "IgnoreUserStatus": "0"}) == replace(
        Parameters.standard(), ignore_user_status=False
    )


# ---- properties ------------------------------------------------------------------------------

LOGINS = ("a", "b", "c", "sysadmin")
GROUP_IDS = ("g1", "g2")

times = st.integers(0, 12).map(at)
event_ids = st.integers(0, 40).map(lambda n: f"e{n}")
profiles = st.builds(
    Profile,
    first_name=st.sampled_from(["Anna", "Ben"]),
    last_name=st.sampled_from(["Ohm", "Volt"]),
    email=st.sampled_from(["x@example.com", "y@example.com"]),
    language=st.sampled_from(["de", "en"]),
    phone_numbers=st.lists(st.sampled_from(["+49 1", "+49 2"]), max_size=2).map(tuple),
)
logins = st.sampled_from(LOGINS)
user_updates = st.builds(UserUpdate, event_ids, times, logins, profiles, st.booleans())
user_deletes = st.builds(UserDelete, event_ids, times, logins)
group_updates = st.builds(
    GroupUpdate,
    event_ids,
    times,
    st.sampled_from(GROUP_IDS),
    st.sampled_from(["Sales", "Support"]),
    st.lists(logins, max_size=4).map(tuple),
)
user_statuses = st.builds(UserStatusChange, event_ids, times, logins, st.sampled_from(LoginStatus))
phone_statuses = st.builds(PhoneStatusChange, event_ids, times, logins, st.sampled_from(CALL_CYCLE))
pauses = st.builds(
    PhoneStatusChange, event_ids, times, logins, st.just(PhoneStatus.QUEUE_PAUSE)
) | st.builds(DndStatusChange, event_ids, times, logins, st.booleans())
events = st.one_of(user_updates, user_deletes, group_updates, user_statuses, phone_statuses)
all_params = st.builds(
    Parameters,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.just(300),
    st.booleans(),
    st.booleans(),
)
maybe_time = st.none() | times
ANY_ACD = st.sampled_from(AcdStatus)


@st.composite
def worlds(draw: st.DrawFn, acd: st.SearchStrategy[AcdStatus] = ANY_ACD) -> World:
    """A consistent starting state: some of a/b exist, c and re-created users carry tombstones."""
    w = World()
    for login in draw(st.lists(st.sampled_from(("a", "b")), unique=True)):
        profile_at = draw(maybe_time)
        w.users[login] = UserState(
            login,
            draw(profiles),
            draw(st.booleans()),
            draw(acd),
            draw(st.sampled_from(CALL_CYCLE)),
            profile_at,
            draw(maybe_time),
            draw(maybe_time),
        )
        if profile_at is not None and draw(st.booleans()):  # deleted once, then re-created
            earlier = [at(n) for n in range(13) if at(n) <= profile_at]
            w.deleted_at[login] = draw(st.sampled_from(earlier))
    if draw(st.booleans()):
        w.deleted_at["c"] = draw(times)
    for gid in draw(st.lists(st.sampled_from(GROUP_IDS), unique=True)):
        members = draw(st.lists(st.sampled_from(sorted(w.users) or ["a"]), unique=True))
        w.groups[gid] = GroupState(
            gid, "Old", tuple(sorted(set(members) & set(w.users))), draw(maybe_time)
        )
    w.seen = set(draw(st.lists(event_ids, max_size=3)))
    return w


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_all(w: World, seq: list[Event], p: Parameters) -> list[Decision]:
    return [run(event, w, p) for event in seq]


@dataclass
class ModelUser:
    profile: Profile
    admin: bool
    acd: AcdStatus
    phone: PhoneStatus
    clocks: dict[str, datetime | None]


@dataclass
class Model:
    """The rules as the issue words them, kept deliberately naive."""

    p: Parameters
    users: dict[str, ModelUser] = field(default_factory=dict)
    deleted_at: dict[str, datetime] = field(default_factory=dict)
    groups: dict[str, tuple[str, set[str], datetime | None]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, w: World, p: Parameters) -> Model:
        m = cls(p, deleted_at=dict(w.deleted_at), seen=set(w.seen))
        for login, u in w.users.items():
            clocks = {"profile": u.profile_at, "acd": u.acd_at, "phone": u.phone_at}
            m.users[login] = ModelUser(u.profile, u.admin, u.acd_status, u.phone_status, clocks)
        for gid, g in w.groups.items():
            m.groups[gid] = (g.name, set(g.members), g.updated_at)
        return m

    def older(self, t: datetime, *clocks: datetime | None) -> bool:
        return any(c is not None and t < c for c in clocks)

    def step(self, e: Event) -> Outcome:
        if e.event_id in self.seen:
            return Outcome.DUPLICATE
        self.seen.add(e.event_id)
        t = e.occurred_at
        if isinstance(e, GroupUpdate):
            if self.p.ignore_group_update:
                return Outcome.IGNORED
            name, _, clock = self.groups.get(e.group_id, ("", set(), None))
            if self.older(t, clock):
                return Outcome.STALE
            self.groups[e.group_id] = (e.name, set(e.members) & set(self.users), t)
            return Outcome.APPLIED
        user = self.users.get(e.login)
        tomb = self.deleted_at.get(e.login)
        if isinstance(e, UserUpdate):
            if e.login == "sysadmin":
                return Outcome.REJECTED
            if user is None:
                if self.older(t, tomb):
                    return Outcome.STALE
                admin = e.admin and not self.p.ignore_user_security
                self.users[e.login] = ModelUser(
                    e.profile,
                    admin,
                    AcdStatus.LOGGED_OFF,
                    PhoneStatus.OFFLINE,
                    {"profile": t, "acd": None, "phone": None},
                )
                return Outcome.APPLIED
            if self.older(t, user.clocks["profile"]):
                return Outcome.STALE
            user.profile = e.profile
            if not self.p.ignore_user_security:
                user.admin = e.admin
            user.clocks["profile"] = t
            return Outcome.APPLIED
        if user is None:
            return Outcome.REJECTED
        if isinstance(e, UserDelete):
            if self.p.ignore_user_deletes:
                return Outcome.IGNORED
            if self.older(t, user.clocks["profile"]):
                return Outcome.STALE
            del self.users[e.login]
            self.deleted_at[e.login] = t
            for gid, (name, members, clock) in self.groups.items():
                self.groups[gid] = (name, members - {e.login}, clock)
            return Outcome.APPLIED
        if isinstance(e, UserStatusChange):
            if self.p.ignore_user_status:
                return Outcome.IGNORED
            if self.older(t, user.clocks["acd"], tomb):
                return Outcome.STALE
            if e.status is LoginStatus.LOGGED_OUT:
                user.acd = AcdStatus.LOGGED_OFF
            elif user.acd is not AcdStatus.PAUSE:
                user.acd = AcdStatus.CALLS_AND_MEDIA
            user.clocks["acd"] = t
            return Outcome.APPLIED
        if self.older(t, user.clocks["phone"], tomb):
            return Outcome.STALE
        user.phone = e.status
        user.clocks["phone"] = t
        return Outcome.APPLIED

    def matches(self, w: World) -> None:
        assert w.seen == self.seen
        assert w.deleted_at == self.deleted_at
        assert set(w.users) == set(self.users)
        for login, u in w.users.items():
            m = self.users[login]
            assert (u.profile, u.admin, u.acd_status, u.phone_status) == (
                m.profile,
                m.admin,
                m.acd,
                m.phone,
            )
            assert (u.profile_at, u.acd_at, u.phone_at) == (
                m.clocks["profile"],
                m.clocks["acd"],
                m.clocks["phone"],
            )
        assert {gid: (g.name, set(g.members), g.updated_at) for gid, g in w.groups.items()} == (
            self.groups
        )


@PROPERTY
@given(worlds(), st.lists(events, max_size=30), all_params)
def test_rules_agree_with_the_reference_model(w: World, seq: list[Event], p: Parameters) -> None:
    model = Model.of(w, p)
    for event in seq:
        decision = run(event, w, p)
        assert decision.outcome is model.step(event), (event, decision)
        assert bool(decision.reason)
        if decision.outcome is not Outcome.APPLIED:
            assert decision.changes == ()
    model.matches(w)


@PROPERTY
@given(worlds(acd=st.sampled_from([OFF, CALLS])), st.lists(events, max_size=30), all_params)
def test_each_aspect_holds_the_newest_applied_event(
    w: World, seq: list[Event], p: Parameters
) -> None:
    initial = copy.deepcopy(w)
    decisions = run_all(w, seq, p)
    applied = [e for e, d in zip(seq, decisions, strict=True) if d.outcome is Outcome.APPLIED]
    for login, user in w.users.items():
        # the events since this login's last creation or deletion
        since = [e for e in applied if getattr(e, "login", None) == login]
        cut = max((i for i, e in enumerate(since) if isinstance(e, UserDelete)), default=-1)
        since = since[cut + 1 :]
        start = None if cut >= 0 else initial.users.get(login)
        updates = [e for e in since if isinstance(e, UserUpdate)]
        statuses = [e for e in since if isinstance(e, UserStatusChange)]
        phones = [e for e in since if isinstance(e, PhoneStatusChange)]
        if updates:
            assert user.profile == updates[-1].profile
            assert user.profile_at == updates[-1].occurred_at == max(e.occurred_at for e in updates)
        else:
            assert start is not None
            assert (user.profile, user.profile_at) == (start.profile, start.profile_at)
        if statuses:
            expected = {
                LoginStatus.LOGGED_IN: AcdStatus.CALLS_AND_MEDIA,
                LoginStatus.LOGGED_OUT: AcdStatus.LOGGED_OFF,
            }[statuses[-1].status]
            assert user.acd_status is expected
            assert user.acd_at == statuses[-1].occurred_at == max(e.occurred_at for e in statuses)
        else:
            assert user.acd_status is (start.acd_status if start else AcdStatus.LOGGED_OFF)
        if phones:
            assert user.phone_status is phones[-1].status
            assert user.phone_at == phones[-1].occurred_at == max(e.occurred_at for e in phones)
        else:
            assert user.phone_status is (start.phone_status if start else PhoneStatus.OFFLINE)
    for gid, g in w.groups.items():
        ups = [e for e in applied if isinstance(e, GroupUpdate) and e.group_id == gid]
        if ups:
            assert g.name == ups[-1].name
            assert g.updated_at == ups[-1].occurred_at == max(e.occurred_at for e in ups)
            assert set(g.members) <= set(ups[-1].members) & set(w.users)


@PROPERTY
@given(worlds(), st.lists(events, max_size=25), all_params, all_params)
def test_redeciding_a_processed_event_is_a_duplicate_and_changes_nothing(
    w: World, seq: list[Event], p: Parameters, later: Parameters
) -> None:
    run_all(w, seq, p)
    settled = copy.deepcopy(w)
    for event in seq:
        decision = run(event, w, later)
        assert decision.outcome is Outcome.DUPLICATE
        assert decision.changes == ()
        assert decision.reason == f"duplicate: eventId {event.event_id!r} was already processed"
    assert w == settled


@PROPERTY
@given(worlds(), st.lists(events, max_size=25), all_params)
def test_decide_never_mutates_the_world(w: World, seq: list[Event], p: Parameters) -> None:
    for event in seq:
        before = copy.deepcopy(w)
        decision = decide(event, w, p)
        assert w == before
        assert decide(event, w, p) == decision  # and is deterministic
        apply(w, event, decision)


@PROPERTY
@given(worlds(), st.lists(events, max_size=20), all_params, phone_statuses, all_params, all_params)
def test_phone_status_outcome_never_depends_on_parameters(
    w: World,
    prefix: list[Event],
    p: Parameters,
    event: PhoneStatusChange,
    p1: Parameters,
    p2: Parameters,
) -> None:
    run_all(w, prefix, p)
    assert decide(event, w, p1) == decide(event, w, p2)


@PROPERTY
@given(worlds(), st.lists(events | pauses, max_size=30), all_params)
def test_with_ignore_user_status_the_acd_status_never_changes_through_events(
    w: World, seq: list[Event], p: Parameters
) -> None:
    p = replace(p, ignore_user_status=True)
    initial = {login: u.acd_status for login, u in w.users.items()}
    decisions = run_all(w, seq, p)
    deleted: set[str] = set()
    for event, decision in zip(seq, decisions, strict=True):
        assert not any(isinstance(c, SetAcdStatus) for c in decision.changes)
        if isinstance(event, UserStatusChange):
            assert decision.outcome in (Outcome.IGNORED, Outcome.REJECTED, Outcome.DUPLICATE)
        if decision.outcome is Outcome.APPLIED and isinstance(event, UserDelete):
            deleted.add(event.login)
    for login, user in w.users.items():
        if login in deleted or login not in initial:
            assert user.acd_status is AcdStatus.LOGGED_OFF  # created by an event: logged off
        else:
            assert user.acd_status is initial[login]


# ---- the STARFACE module's vocabulary (issue 10, point 11) -----------------------------------


def module_phone(login: str, name: str, t: int = 20, eid: str = "e1", **kw: Any) -> Event:
    """A PHONE_STATUS as the wire reads it: the module's state name mapped, the name kept."""
    status = phone_status_of(name)
    original = "" if name == status.value else name
    return PhoneStatusChange(eid, at(t), login, status, original, **kw)


def dnd(login: str, enabled: bool, t: int = 20, eid: str = "e1", **kw: Any) -> DndStatusChange:
    return DndStatusChange(eid, at(t), login, enabled, **kw)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("AVAILABLE", PhoneStatus.IDLE),
        ("RINGING", PhoneStatus.RINGING),
        ("ACTIVE", PhoneStatus.BUSY),
        ("QUEUE_PAUSE", PhoneStatus.QUEUE_PAUSE),
        ("UNAVAILABLE", PhoneStatus.OFFLINE),
    ],
)
def test_the_module_states_map_to_telephone_statuses_and_the_reason_names_them(
    state: str, status: PhoneStatus
) -> None:
    assert TELEPHONY_STATES[TelephonyState(state)] is status
    w = world()
    start = PhoneStatus.RINGING if status is PhoneStatus.BUSY else PhoneStatus.BUSY
    w.users["u1"] = replace(w.users["u1"], phone_status=start)
    decision = run(module_phone("u1", state), w, params())
    assert w.users["u1"].phone_status is status
    renamed = f" (STARFACE {state})" if state != status.value else ""
    assert decision.reason == f"telephone status {start} -> {status}{renamed}"


def test_queue_pause_pauses_the_agent_and_its_end_resumes_only_that_pause() -> None:
    w, p = world(), params(IgnoreUserStatus=0)
    first = run(module_phone("u2", "QUEUE_PAUSE", t=20, eid="a"), w, p)
    assert first.reason == (
        "telephone status IDLE -> QUEUE_PAUSE; "
        f"ACD status CALLS_AND_MEDIA -> PAUSE (QUEUE_PAUSE; {STATUS0})"
    )
    assert first.acd_clock == Clock(Aspect.ACD_STATUS, "u2", at(20))
    u = w.users["u2"]
    assert (u.acd_status, u.acd_paused_by_pbx, u.acd_at) == (AcdStatus.PAUSE, True, at(20))
    back = run(module_phone("u2", "AVAILABLE", t=21, eid="b"), w, p)
    assert back.reason == (
        "telephone status QUEUE_PAUSE -> IDLE (STARFACE AVAILABLE); ACD status PAUSE -> "
        f"CALLS_AND_MEDIA (end of QUEUE_PAUSE, which set the pause; {STATUS0})"
    )
    u = w.users["u2"]
    assert (u.acd_status, u.acd_paused_by_pbx, u.phone_status) == (
        AcdStatus.CALLS_AND_MEDIA,
        False,
        PhoneStatus.IDLE,
    )
    # A pause set in jtel ("p") is never ended from STARFACE.
    run(module_phone("p", "QUEUE_PAUSE", t=22, eid="c"), w, p)
    kept = run(module_phone("p", "AVAILABLE", t=23, eid="d"), w, p)
    assert kept.reason.endswith("ACD status PAUSE kept: the pause was set in jtel")
    assert w.users["p"].acd_status is AcdStatus.PAUSE
    # A logged-off agent is not paused (a pause does not log anyone in).
    off = run(module_phone("u1", "QUEUE_PAUSE", t=24, eid="e"), w, p)
    assert off.reason.endswith(
        "ACD status LOGGED_OFF kept: only an agent in CALLS_AND_MEDIA is paused"
    )
    assert w.users["u1"].acd_status is AcdStatus.LOGGED_OFF


def test_queue_pause_under_ignore_user_status_sets_only_the_telephone_status() -> None:
    w = world()
    decision = run(module_phone("u2", "QUEUE_PAUSE"), w, params(IgnoreUserStatus=1))
    assert decision.reason == (
        f"telephone status IDLE -> QUEUE_PAUSE; ACD status not changed ({PFX}IgnoreUserStatus=1)"
    )
    assert decision.withheld == (PFX + "IgnoreUserStatus",)
    assert w.users["u2"].phone_status is PhoneStatus.QUEUE_PAUSE
    assert w.users["u2"].acd_status is AcdStatus.CALLS_AND_MEDIA


def test_an_older_queue_pause_does_not_undo_a_newer_login_status() -> None:
    w, p = world(), params(IgnoreUserStatus=0)
    w.users["u2"] = replace(w.users["u2"], phone_at=at(5), acd_at=at(30))
    decision = run(module_phone("u2", "QUEUE_PAUSE", t=20), w, p)
    assert decision.reason.endswith(f"ACD status kept: a newer login status applies ({iso(30)})")
    assert w.users["u2"].acd_status is AcdStatus.CALLS_AND_MEDIA
    assert w.users["u2"].phone_status is PhoneStatus.QUEUE_PAUSE


def test_dnd_is_stored_and_pauses_only_with_dnd_pauses_agent() -> None:
    w = world()
    shown = run(dnd("u2", True, t=20, eid="a"), w, params(IgnoreUserStatus=0))
    assert shown.reason == f"do-not-disturb on; ACD status not changed ({PFX}DndPausesAgent=0)"
    assert shown.changes == (SetDnd("u2", True),)
    u = w.users["u2"]
    assert (u.dnd, u.dnd_at, u.acd_status) == (True, at(20), AcdStatus.CALLS_AND_MEDIA)
    assert run(dnd("u2", True, t=21, eid="b"), w, params()).reason == (
        "no change: do-not-disturb already on"
    )
    assert decide(dnd("u2", True, t=5, eid="c"), w, params()).outcome is Outcome.STALE

    w, p = world(), params(IgnoreUserStatus=0, DndPausesAgent=1)
    assert run(dnd("u2", True, t=20, eid="a"), w, p).reason == (
        f"do-not-disturb on; ACD status CALLS_AND_MEDIA -> PAUSE (DND; {STATUS0})"
    )
    assert w.users["u2"].acd_status is AcdStatus.PAUSE
    # Both STARFACE pauses at once: the end of one keeps the agent paused for the other.
    run(module_phone("u2", "QUEUE_PAUSE", t=21, eid="b"), w, p)
    kept = run(dnd("u2", False, t=22, eid="c"), w, p)
    assert kept.reason == "do-not-disturb off; ACD status PAUSE kept: QUEUE_PAUSE still holds"
    resumed = run(module_phone("u2", "AVAILABLE", t=23, eid="d"), w, p)
    assert resumed.reason.endswith("(end of QUEUE_PAUSE, which set the pause; " + STATUS0 + ")")
    assert w.users["u2"].acd_status is AcdStatus.CALLS_AND_MEDIA
    # DndPausesAgent=1 still needs IgnoreUserStatus=0: STARFACE changes no ACD status otherwise.
    w = world()
    ignored = run(dnd("u2", True), w, params(IgnoreUserStatus=1, DndPausesAgent=1))
    assert ignored.reason.endswith(f"ACD status not changed ({PFX}IgnoreUserStatus=1)")
    assert w.users["u2"].acd_status is AcdStatus.CALLS_AND_MEDIA


def test_login_and_manual_changes_clear_the_starface_pause() -> None:
    w, p = world(), params(IgnoreUserStatus=0)
    run(module_phone("u2", "QUEUE_PAUSE", t=20, eid="a"), w, p)
    run(status("u2", LoginStatus.LOGGED_OUT, t=21, eid="b"), w, p)
    assert (w.users["u2"].acd_status, w.users["u2"].acd_paused_by_pbx) == (
        AcdStatus.LOGGED_OFF,
        False,
    )
    run(status("u2", LoginStatus.LOGGED_IN, t=22, eid="c"), w, p)
    # The end of the queue pause now finds an agent in CALLS_AND_MEDIA: nothing to resume.
    decision = run(module_phone("u2", "AVAILABLE", t=23, eid="d"), w, p)
    assert decision.reason == "telephone status QUEUE_PAUSE -> IDLE (STARFACE AVAILABLE)"


@pytest.mark.parametrize(
    "event",
    [
        UserStatusChange("r", at(20), "u2", LoginStatus.LOGGED_IN, resync=True),
        PhoneStatusChange("r", at(20), "u2", PhoneStatus.IDLE, "AVAILABLE", resync=True),
        DndStatusChange("r", at(20), "u2", False, resync=True),
    ],
    ids=["login", "phone", "dnd"],
)
def test_a_resync_of_a_state_already_held_is_applied_with_no_change(event: Event) -> None:
    w = world()
    decision = run(event, w, params(IgnoreUserStatus=0))
    assert decision.outcome is Outcome.APPLIED and decision.changes == ()
    assert decision.reason.startswith("resync; no change")
    # ... and a newer event still wins over a resync dated before it.
    older = replace(event, event_id="r2", occurred_at=at(5))  # type: ignore[type-var]
    assert decide(older, w, params(IgnoreUserStatus=0)).outcome is Outcome.STALE
