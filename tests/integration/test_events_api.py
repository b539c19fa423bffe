"""POST /starface/v1/events through real HTTP, on every database backend.

Every flag parameter is exercised at 0 and at 1 for every event type: the parameters that
govern a type in their own tests, the others in one table that proves they leave it alone.
Then duplicates, stale events per aspect, unknown users, malformed input, and concurrency.
Each test checks the outcome, the reason, and the resulting state read back through the jtel API.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Connector
from tests.integration.helpers import (
    FLAGS,
    P,
    T0,
    at,
    audit,
    can_log_in,
    groups,
    result,
    users,
)

# ---- every parameter that governs an event type, at 0 and at 1 ----------------------------


@pytest.mark.parametrize(
    ("value", "admin_sent", "admin_kept", "admin_note"),
    [
        ("0", True, True, f"admin=yes ({P}IgnoreUserSecurity=0)"),
        ("0", False, False, f"admin=no ({P}IgnoreUserSecurity=0)"),
        ("1", True, False, f"admin flag not taken ({P}IgnoreUserSecurity=1)"),
        ("1", False, False, f"admin flag not taken ({P}IgnoreUserSecurity=1)"),
    ],
)
def test_user_update_creates_user_with_admin_flag_per_ignore_user_security(
    connector: Connector, value: str, admin_sent: bool, admin_kept: bool, admin_note: str
) -> None:
    c = connector
    c.set_param("IgnoreUserSecurity", value)
    event = c.user_update(
        "1001",
        admin=admin_sent,
        firstName="Anna",
        familyName="Müller",
        email="anna@example.com",
        language="de",
        phoneNumbers=["+49 30 1001", "1001"],
    )
    assert c.one(event) == result(
        event,
        "applied",
        f"created user 1001; password = UsersUID ({P}UserPasswordSetUID=1); {admin_note}",
    )
    user = c.user("1001")
    assert user is not None
    assert {k: user[k] for k in ("usersUid", "firstName", "lastName", "email", "language")} == {
        "usersUid": "1001",
        "firstName": "Anna",
        "lastName": "Müller",
        "email": "anna@example.com",
        "language": "de",
    }
    assert user["phoneNumbers"] == ["+49 30 1001", "1001"]
    assert user["admin"] is admin_kept
    assert (user["acdStatus"], user["phoneStatus"], user["groups"]) == ("LOGGED_OFF", "OFFLINE", [])
    # the flag is a right, not just a field: only an admin may list users
    token = c.token("1001", "1001")
    assert c.as_token(token, "GET", "/api/v1/users").status_code == (200 if admin_kept else 403)


@pytest.mark.parametrize(
    ("value", "password_note", "uid_is_password"),
    [
        ("1", f"password = UsersUID ({P}UserPasswordSetUID=1)", True),
        (
            "0",
            f"random password, to be set by the administrator ({P}UserPasswordSetUID=0)",
            False,
        ),
    ],
)
def test_user_update_creates_user_with_password_per_user_password_set_uid(
    connector: Connector, value: str, password_note: str, uid_is_password: bool
) -> None:
    c = connector
    c.set_param("UserPasswordSetUID", value)
    event = c.user_update("1002")
    assert c.one(event) == result(
        event,
        "applied",
        f"created user 1002; {password_note}; admin flag not taken ({P}IgnoreUserSecurity=1)",
    )
    assert can_log_in(c, "1002", "1002") is uid_is_password
    # whatever the first password, the administrator can set one by hand
    response = c.admin("PUT", "/api/v1/users/1002/password", json={"password": "chosen-by-admin"})
    assert response.status_code == 204, response.text
    assert can_log_in(c, "1002", "chosen-by-admin")
    assert not can_log_in(c, "1002", "1002")


@pytest.mark.parametrize(
    ("value", "admin_before", "admin_sent", "admin_after", "admin_note"),
    [
        ("0", False, True, True, f"admin flag granted ({P}IgnoreUserSecurity=0)"),
        ("0", True, False, False, f"admin flag revoked ({P}IgnoreUserSecurity=0)"),
        ("1", False, True, False, f"admin flag not changed ({P}IgnoreUserSecurity=1)"),
        ("1", True, False, True, f"admin flag not changed ({P}IgnoreUserSecurity=1)"),
    ],
)
def test_user_update_of_known_user_changes_admin_flag_per_ignore_user_security(
    connector: Connector,
    value: str,
    admin_before: bool,
    admin_sent: bool,
    admin_after: bool,
    admin_note: str,
) -> None:
    c = connector
    c.set_param("IgnoreUserSecurity", "0")
    assert c.one(c.user_update("1003", admin=admin_before))["outcome"] == "applied"
    c.set_param("IgnoreUserSecurity", value)
    event = c.user_update("1003", admin=admin_sent, firstName="Berta")
    assert c.one(event) == result(event, "applied", f"updated firstName; {admin_note}")
    user = c.user("1003")
    assert user is not None
    assert (user["firstName"], user["admin"]) == ("Berta", admin_after)


@pytest.mark.parametrize("value", ["0", "1"])
def test_user_update_of_known_user_never_touches_the_password(
    connector: Connector, value: str
) -> None:
    c = connector
    assert c.one(c.user_update("1004"))["outcome"] == "applied"  # password = UID (standard)
    c.set_param("UserPasswordSetUID", value)
    event = c.user_update("1004", email="new@example.com")
    assert c.one(event) == result(event, "applied", "updated email")
    assert c.user("1004")["email"] == "new@example.com"  # type: ignore[index]
    assert can_log_in(c, "1004", "1004")


def test_user_update_reports_every_changed_profile_field_and_no_change(
    connector: Connector,
) -> None:
    c = connector
    assert c.one(c.user_update("1005"))["outcome"] == "applied"
    changed = c.user_update(
        "1005",
        firstName="Carl",
        familyName="Weber",
        email="carl@example.com",
        language="en",
        phoneNumbers=["+49 89 555"],
    )
    assert c.one(changed) == result(
        changed, "applied", "updated firstName, lastName, email, language, phoneNumbers"
    )
    user = c.user("1005")
    assert user is not None
    assert (user["firstName"], user["lastName"], user["email"], user["language"]) == (
        "Carl",
        "Weber",
        "carl@example.com",
        "en",
    )
    assert user["phoneNumbers"] == ["+49 89 555"]
    same = c.user_update(
        "1005",
        firstName="Carl",
        familyName="Weber",
        email="carl@example.com",
        language="en",
        phoneNumbers=["+49 89 555"],
    )
    assert c.one(same) == result(same, "applied", "no change")


@pytest.mark.parametrize("value", ["0", "1"])
def test_user_delete_follows_ignore_user_deletes(connector: Connector, value: str) -> None:
    c = connector
    c.set_param("IgnoreGroupUpdate", "0")
    assert c.one(c.user_update("2001"))["outcome"] == "applied"
    assert c.one(c.user_update("2002"))["outcome"] == "applied"
    assert c.one(c.group_update("g1", "Sales", ["2001", "2002"]))["outcome"] == "applied"
    c.set_param("IgnoreUserDeletes", value)
    event = c.user_delete("2001")
    if value == "0":
        assert c.one(event) == result(
            event, "applied", f"deleted user 2001 ({P}IgnoreUserDeletes=0)"
        )
        assert c.user("2001") is None
        assert [u["usersUid"] for u in users(c)["items"]] == ["2002"]
        assert groups(c)[0]["members"] == ["2002"]
        assert not can_log_in(c, "2001", "2001")
    else:
        assert c.one(event) == result(event, "ignored", f"ignored: {P}IgnoreUserDeletes=1")
        assert c.user("2001") is not None
        assert [u["usersUid"] for u in users(c)["items"]] == ["2001", "2002"]
        assert groups(c)[0]["members"] == ["2001", "2002"]
        assert can_log_in(c, "2001", "2001")


@pytest.mark.parametrize("value", ["0", "1"])
def test_group_update_follows_ignore_group_update(connector: Connector, value: str) -> None:
    c = connector
    assert c.one(c.user_update("2101"))["outcome"] == "applied"
    assert c.one(c.user_update("2102"))["outcome"] == "applied"
    c.set_param("IgnoreGroupUpdate", value)
    event = c.group_update(42, "Support", ["2102", "2101"])
    if value == "0":
        assert c.one(event) == result(
            event, "applied", f"created group 42 'Support' with 2 member(s) ({P}IgnoreGroupUpdate=0)"
        )
        (group,) = groups(c)
        assert (group["id"], group["name"], group["members"]) == ("42", "Support", ["2101", "2102"])
        assert c.user("2101")["groups"] == ["42"]  # type: ignore[index]
    else:
        assert c.one(event) == result(event, "ignored", f"ignored: {P}IgnoreGroupUpdate=1")
        assert groups(c) == []
        assert c.user("2101")["groups"] == []  # type: ignore[index]


def test_group_update_changes_name_and_members_and_names_unknown_logins(
    connector: Connector,
) -> None:
    c = connector
    c.set_param("IgnoreGroupUpdate", "0")
    for login in ("2201", "2202", "2203"):
        assert c.one(c.user_update(login))["outcome"] == "applied"
    first = c.group_update("g7", "Sales", ["2201", "2202", "ghost-1"])
    assert c.one(first) == result(
        first,
        "applied",
        f"created group g7 'Sales' with 2 member(s) ({P}IgnoreGroupUpdate=0); "
        "unknown login(s) not added: ghost-1",
    )
    second = c.group_update("g7", "Sales EU", ["2203", "2201", "zz-ghost", "ghost-2"])
    assert c.one(second) == result(
        second,
        "applied",
        f"updated group g7: name 'Sales' -> 'Sales EU'; added 2203; removed 2202 "
        f"({P}IgnoreGroupUpdate=0); unknown login(s) not added: ghost-2, zz-ghost",
    )
    (group,) = groups(c)
    assert (group["name"], group["members"]) == ("Sales EU", ["2201", "2203"])
    assert c.user("2202")["groups"] == []  # type: ignore[index]
    again = c.group_update("g7", "Sales EU", ["2201", "2203"])
    assert c.one(again) == result(again, "applied", f"no change ({P}IgnoreGroupUpdate=0)")


@pytest.mark.parametrize(
    ("value", "before", "status", "outcome", "reason", "after"),
    [
        (
            "0",
            "LOGGED_OFF",
            "LOGGED_IN",
            "applied",
            f"ACD status LOGGED_OFF -> CALLS_AND_MEDIA (LOGGED_IN; {P}IgnoreUserStatus=0)",
            "CALLS_AND_MEDIA",
        ),
        (
            "0",
            "CALLS_AND_MEDIA",
            "LOGGED_OUT",
            "applied",
            f"ACD status CALLS_AND_MEDIA -> LOGGED_OFF (LOGGED_OUT; {P}IgnoreUserStatus=0)",
            "LOGGED_OFF",
        ),
        (
            "0",
            "CALLS_AND_MEDIA",
            "LOGGED_IN",
            "applied",
            f"no change: already CALLS_AND_MEDIA ({P}IgnoreUserStatus=0)",
            "CALLS_AND_MEDIA",
        ),
        ("1", "LOGGED_OFF", "LOGGED_IN", "ignored", f"ignored: {P}IgnoreUserStatus=1", "LOGGED_OFF"),
        (
            "1",
            "CALLS_AND_MEDIA",
            "LOGGED_OUT",
            "ignored",
            f"ignored: {P}IgnoreUserStatus=1",
            "CALLS_AND_MEDIA",
        ),
    ],
)
def test_user_status_follows_ignore_user_status(
    connector: Connector,
    value: str,
    before: str,
    status: str,
    outcome: str,
    reason: str,
    after: str,
) -> None:
    c = connector
    assert c.one(c.user_update("3001"))["outcome"] == "applied"
    if before == "CALLS_AND_MEDIA":
        c.set_param("IgnoreUserStatus", "0")
        assert c.one(c.user_status("3001", "LOGGED_IN"))["outcome"] == "applied"
    assert c.user("3001")["acdStatus"] == before  # type: ignore[index]
    c.set_param("IgnoreUserStatus", value)
    event = c.user_status("3001", status)
    assert c.one(event) == result(event, outcome, reason)
    assert c.user("3001")["acdStatus"] == after  # type: ignore[index]


def test_logged_in_leaves_an_agent_on_pause(connector: Connector) -> None:
    c = connector
    # a manual ACD change moves the ACD clock to the wall clock: events here are "now"
    c.clock = datetime.now(UTC).replace(microsecond=0)
    c.set_param("IgnoreUserStatus", "0")
    assert c.one(c.user_update("3101"))["outcome"] == "applied"
    response = c.admin("PUT", "/api/v1/users/3101/acd-status", json={"acdStatus": "PAUSE"})
    assert response.status_code == 200, response.text
    assert response.json()["acdStatus"] == "PAUSE"
    c.clock += timedelta(minutes=1)
    login = c.user_status("3101", "LOGGED_IN")
    assert c.one(login) == result(
        login, "applied", f"no change: LOGGED_IN leaves an agent on PAUSE ({P}IgnoreUserStatus=0)"
    )
    assert c.user("3101")["acdStatus"] == "PAUSE"  # type: ignore[index]
    logout = c.user_status("3101", "LOGGED_OUT")
    assert c.one(logout) == result(
        logout,
        "applied",
        f"ACD status PAUSE -> LOGGED_OFF (LOGGED_OUT; {P}IgnoreUserStatus=0)",
    )
    assert c.user("3101")["acdStatus"] == "LOGGED_OFF"  # type: ignore[index]


def test_user_status_older_than_a_manual_acd_change_is_stale(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    assert c.one(c.user_update("3201", at=at(0)))["outcome"] == "applied"
    before_manual = datetime.now(UTC) - timedelta(minutes=5)
    response = c.admin("PUT", "/api/v1/users/3201/acd-status", json={"acdStatus": "PAUSE"})
    assert response.status_code == 200, response.text
    late = c.user_status("3201", "LOGGED_OUT", at=before_manual)
    (answer,) = c.results(late)
    assert (answer["eventId"], answer["outcome"]) == (late["eventId"], "stale")
    assert answer["reason"].startswith(
        f"stale: occurredAt {before_manual.isoformat()} is older than the last applied "
        "ACD status event ("
    )
    assert c.user("3201")["acdStatus"] == "PAUSE"  # type: ignore[index]


# ---- the parameters that do not govern an event type leave it alone -----------------------
#
# Each scenario sets the parameters that govern its event type so the event takes effect, and
# asserts the exact outcome, reason and state. The test sets one other parameter to 0 or 1 (or
# SessionExpireSeconds to its bounds) first: the scenario's expectations must hold regardless.


def _scenario_user_update(c: Connector) -> None:
    create = c.user_update("4001", admin=True, firstName="Eva")
    assert c.one(create) == result(
        create,
        "applied",
        f"created user 4001; password = UsersUID ({P}UserPasswordSetUID=1); "
        f"admin=yes ({P}IgnoreUserSecurity=0)",
    )
    update = c.user_update("4001", admin=False, firstName="Eva", familyName="Schmidt")
    assert c.one(update) == result(
        update, "applied", f"updated lastName; admin flag revoked ({P}IgnoreUserSecurity=0)"
    )
    user = c.user("4001")
    assert user is not None
    assert (user["firstName"], user["lastName"], user["admin"]) == ("Eva", "Schmidt", False)
    assert can_log_in(c, "4001", "4001")


def _scenario_user_delete(c: Connector) -> None:
    assert c.one(c.user_update("4002"))["outcome"] == "applied"
    event = c.user_delete("4002")
    assert c.one(event) == result(event, "applied", f"deleted user 4002 ({P}IgnoreUserDeletes=0)")
    assert c.user("4002") is None
    assert users(c)["total"] == 0


def _scenario_group_update(c: Connector) -> None:
    assert c.one(c.user_update("4003"))["outcome"] == "applied"
    event = c.group_update(7, "Sales", ["4003", "ghost"])
    assert c.one(event) == result(
        event,
        "applied",
        f"created group 7 'Sales' with 1 member(s) ({P}IgnoreGroupUpdate=0); "
        "unknown login(s) not added: ghost",
    )
    assert [(g["id"], g["name"], g["members"]) for g in groups(c)] == [("7", "Sales", ["4003"])]


def _scenario_user_status(c: Connector) -> None:
    assert c.one(c.user_update("4004"))["outcome"] == "applied"
    event = c.user_status("4004", "LOGGED_IN")
    assert c.one(event) == result(
        event,
        "applied",
        f"ACD status LOGGED_OFF -> CALLS_AND_MEDIA (LOGGED_IN; {P}IgnoreUserStatus=0)",
    )
    assert c.user("4004")["acdStatus"] == "CALLS_AND_MEDIA"  # type: ignore[index]


def _scenario_phone_status(c: Connector) -> None:
    assert c.one(c.user_update("4005"))["outcome"] == "applied"
    for before, status in (("OFFLINE", "RINGING"), ("RINGING", "BUSY"), ("BUSY", "IDLE")):
        event = c.phone_status("4005", status)
        assert c.one(event) == result(event, "applied", f"telephone status {before} -> {status}")
        assert c.user("4005")["phoneStatus"] == status  # type: ignore[index]
    same = c.phone_status("4005", "IDLE")
    assert c.one(same) == result(same, "applied", "no change: already IDLE")


SCENARIOS: dict[str, tuple[dict[str, str], Callable[[Connector], None]]] = {
    "USER_UPDATE": (
        {"IgnoreUserSecurity": "0", "UserPasswordSetUID": "1"},
        _scenario_user_update,
    ),
    "USER_DELETE": ({"IgnoreUserDeletes": "0"}, _scenario_user_delete),
    "GROUP_UPDATE": ({"IgnoreGroupUpdate": "0"}, _scenario_group_update),
    "USER_STATUS": ({"IgnoreUserStatus": "0"}, _scenario_user_status),
    "PHONE_STATUS": ({}, _scenario_phone_status),
}
OTHER_SETTINGS = [(flag, value) for flag in FLAGS for value in ("0", "1")] + [
    ("SessionExpireSeconds", "10"),
    ("SessionExpireSeconds", "86400"),
]
NOT_GOVERNING = [
    pytest.param(event_type, name, value, id=f"{event_type}-{name}={value}")
    for event_type, (governing, _) in SCENARIOS.items()
    for name, value in OTHER_SETTINGS
    if name not in governing
]


@pytest.mark.parametrize(("event_type", "name", "value"), NOT_GOVERNING)
def test_parameters_that_do_not_govern_an_event_type_change_nothing(
    connector: Connector, event_type: str, name: str, value: str
) -> None:
    governing, scenario = SCENARIOS[event_type]
    connector.set_param(name, value)
    for governing_name, governing_value in governing.items():
        connector.set_param(governing_name, governing_value)
    scenario(connector)


@pytest.mark.parametrize("value", ["0", "1"])
def test_phone_status_is_applied_with_every_flag_at_once(connector: Connector, value: str) -> None:
    for flag in FLAGS:
        connector.set_param(flag, value)
    assert connector.one(connector.user_update("4006"))["outcome"] == "applied"
    event = connector.phone_status("4006", "BUSY")
    assert connector.one(event) == result(event, "applied", "telephone status OFFLINE -> BUSY")
    assert connector.user("4006")["phoneStatus"] == "BUSY"  # type: ignore[index]


def test_a_parameter_change_applies_to_the_next_event(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("4007"))["outcome"] == "applied"
    first = c.user_status("4007", "LOGGED_IN")
    assert c.one(first) == result(first, "ignored", f"ignored: {P}IgnoreUserStatus=1")
    c.set_param("IgnoreUserStatus", "0")
    second = c.user_status("4007", "LOGGED_IN")
    assert c.one(second)["outcome"] == "applied"
    c.set_param("IgnoreUserStatus", "1")
    third = c.user_status("4007", "LOGGED_OUT")
    assert c.one(third) == result(third, "ignored", f"ignored: {P}IgnoreUserStatus=1")
    assert c.user("4007")["acdStatus"] == "CALLS_AND_MEDIA"  # type: ignore[index]


# ---- duplicates ----------------------------------------------------------------------------


def _duplicate_pair(c: Connector, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A first event of ``kind`` that takes effect, and a different, later one with its id."""
    if kind == "USER_UPDATE":
        first, second = c.user_update("5001", firstName="One"), c.user_update("5001")
    elif kind == "USER_DELETE":
        first, second = c.user_delete("5002"), c.user_update("5002")
    elif kind == "GROUP_UPDATE":
        first, second = c.group_update("g5", "One", ["5001"]), c.group_update("g5", "Two", [])
    elif kind == "USER_STATUS":
        first, second = c.user_status("5001", "LOGGED_IN"), c.user_status("5001", "LOGGED_OUT")
    else:
        first, second = c.phone_status("5001", "BUSY"), c.phone_status("5001", "IDLE")
    second["eventId"] = first["eventId"]
    return first, second


def _state(c: Connector) -> tuple[Any, ...]:
    listing = users(c)["items"]
    return (
        [(u["usersUid"], u["firstName"], u["acdStatus"], u["phoneStatus"]) for u in listing],
        groups(c),
    )


@pytest.mark.parametrize(
    "kind", ["USER_UPDATE", "USER_DELETE", "GROUP_UPDATE", "USER_STATUS", "PHONE_STATUS"]
)
@pytest.mark.parametrize("same_batch", [False, True], ids=["later-batch", "same-batch"])
def test_same_event_id_again_is_a_duplicate_and_changes_nothing(
    connector: Connector, kind: str, same_batch: bool
) -> None:
    c = connector
    for flag in ("IgnoreGroupUpdate", "IgnoreUserDeletes", "IgnoreUserStatus"):
        c.set_param(flag, "0")
    assert c.one(c.user_update("5001", firstName="Zero"))["outcome"] == "applied"
    assert c.one(c.user_update("5002"))["outcome"] == "applied"
    first, second = _duplicate_pair(c, kind)
    reason = f"duplicate: eventId {first['eventId']!r} was already processed"
    if same_batch:
        answers = c.results(first, second)
        assert answers[0]["outcome"] == "applied", answers
        assert answers[1] == result(second, "duplicate", reason)
        state = _state(c)
    else:
        assert c.one(first)["outcome"] == "applied"
        state = _state(c)
        assert c.one(second) == result(second, "duplicate", reason)
    assert _state(c) == state
    logged = audit(c, outcome="duplicate")
    assert [(e["eventId"], e["reason"]) for e in logged] == [(first["eventId"], reason)]


def test_an_event_id_is_used_up_even_when_its_event_was_ignored_or_rejected(
    connector: Connector,
) -> None:
    c = connector
    rejected = c.phone_status("5101", "BUSY")
    ignored = c.user_status("5101", "LOGGED_IN")
    assert c.one(rejected) == result(rejected, "rejected", "rejected: unknown user 5101")
    assert c.one(c.user_update("5101"))["outcome"] == "applied"
    assert c.one(ignored) == result(ignored, "ignored", f"ignored: {P}IgnoreUserStatus=1")
    c.set_param("IgnoreUserStatus", "0")
    retry_rejected = c.phone_status("5101", "BUSY")
    retry_rejected["eventId"] = rejected["eventId"]
    retry_ignored = c.user_status("5101", "LOGGED_IN")
    retry_ignored["eventId"] = ignored["eventId"]
    assert c.results(retry_rejected, retry_ignored) == [
        result(
            retry_rejected,
            "duplicate",
            f"duplicate: eventId {rejected['eventId']!r} was already processed",
        ),
        result(
            retry_ignored,
            "duplicate",
            f"duplicate: eventId {ignored['eventId']!r} was already processed",
        ),
    ]
    user = c.user("5101")
    assert user is not None
    assert (user["phoneStatus"], user["acdStatus"]) == ("OFFLINE", "LOGGED_OFF")


def test_event_ids_are_compared_exactly(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("5201"))["outcome"] == "applied"
    upper, lower, spaced = (
        c.phone_status("5201", "RINGING"),
        c.phone_status("5201", "BUSY"),
        c.phone_status("5201", "IDLE"),
    )
    upper["eventId"], lower["eventId"], spaced["eventId"] = "Evt-Case", "evt-case", "evt-case "
    assert [r["outcome"] for r in c.results(upper, lower, spaced)] == ["applied"] * 3
    assert c.user("5201")["phoneStatus"] == "IDLE"  # type: ignore[index]
    again = c.phone_status("5201", "BUSY")
    again["eventId"] = "evt-case"
    assert c.one(again)["outcome"] == "duplicate"


def test_event_id_of_128_characters_is_accepted(connector: Connector) -> None:
    c = connector
    event = c.user_update("5301")
    event["eventId"] = "e" * 128
    assert c.one(event)["outcome"] == "applied"
    assert [e["eventId"] for e in audit(c, login="5301")] == ["e" * 128]


# ---- stale: each aspect keeps its own clock -----------------------------------------------


def _stale_reason(event_at: datetime, aspect: str, last: datetime) -> str:
    return (
        f"stale: occurredAt {event_at.isoformat()} is older than the last applied "
        f"{aspect} event ({last.isoformat()})"
    )


def test_stale_profile_update_changes_nothing(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("6001", firstName="New", at=at(100)))["outcome"] == "applied"
    old = c.user_update("6001", firstName="Old", admin=True, at=at(50))
    assert c.one(old) == result(old, "stale", _stale_reason(at(50), "profile", at(100)))
    assert c.user("6001")["firstName"] == "New"  # type: ignore[index]
    same_moment = c.user_update("6001", firstName="Same", at=at(100))
    assert c.one(same_moment) == result(same_moment, "applied", "updated firstName")


def test_stale_acd_status_changes_nothing(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    assert c.one(c.user_update("6002", at=at(0)))["outcome"] == "applied"
    assert c.one(c.user_status("6002", "LOGGED_IN", at=at(100)))["outcome"] == "applied"
    old = c.user_status("6002", "LOGGED_OUT", at=at(99))
    assert c.one(old) == result(old, "stale", _stale_reason(at(99), "ACD status", at(100)))
    assert c.user("6002")["acdStatus"] == "CALLS_AND_MEDIA"  # type: ignore[index]


def test_stale_phone_status_changes_nothing(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("6003", at=at(0)))["outcome"] == "applied"
    assert c.one(c.phone_status("6003", "BUSY", at=at(100)))["outcome"] == "applied"
    # 10:01:39+01:00 is 09:01:39Z, one second before the applied event at 09:01:40Z
    old = c.phone_status("6003", "IDLE")
    old["occurredAt"] = "2026-11-25T10:01:39+01:00"
    moment = datetime.fromisoformat("2026-11-25T10:01:39+01:00")
    assert c.one(old) == result(old, "stale", _stale_reason(moment, "phone status", at(100)))
    assert c.user("6003")["phoneStatus"] == "BUSY"  # type: ignore[index]
    later = c.phone_status("6003", "IDLE")
    later["occurredAt"] = "2026-11-25T10:01:41+01:00"
    assert c.one(later) == result(later, "applied", "telephone status BUSY -> IDLE")


def test_stale_group_update_changes_nothing(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreGroupUpdate", "0")
    assert c.one(c.user_update("6004", at=at(0)))["outcome"] == "applied"
    assert c.one(c.group_update("g6", "New", ["6004"], at=at(100)))["outcome"] == "applied"
    old = c.group_update("g6", "Old", [], at=at(60))
    assert c.one(old) == result(old, "stale", _stale_reason(at(60), "group", at(100)))
    assert [(g["name"], g["members"]) for g in groups(c)] == [("New", ["6004"])]


def test_aspects_are_independent(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    c.set_param("IgnoreGroupUpdate", "0")
    assert c.one(c.user_update("6005", firstName="Late", at=at(1000)))["outcome"] == "applied"
    # older than the profile, but first of their own aspect: applied
    early = [
        c.phone_status("6005", "RINGING", at=at(10)),
        c.user_status("6005", "LOGGED_IN", at=at(20)),
        c.group_update("g1", "Team", ["6005"], at=at(5)),
    ]
    assert [r["outcome"] for r in c.results(*early)] == ["applied"] * 3
    # a newer phone event does not make older events of other aspects stale
    assert c.one(c.phone_status("6005", "BUSY", at=at(5000)))["outcome"] == "applied"
    mixed = [
        c.user_status("6005", "LOGGED_OUT", at=at(30)),  # newer ACD event: applied
        c.user_update("6005", firstName="Early", at=at(999)),  # older profile event: stale
        c.phone_status("6005", "IDLE", at=at(4999)),  # older phone event: stale
        c.group_update("g1", "Team B", ["6005"], at=at(6)),  # newer group event: applied
    ]
    assert [r["outcome"] for r in c.results(*mixed)] == ["applied", "stale", "stale", "applied"]
    user = c.user("6005")
    assert user is not None
    assert (user["firstName"], user["acdStatus"], user["phoneStatus"], user["groups"]) == (
        "Late",
        "LOGGED_OFF",
        "BUSY",
        ["g1"],
    )
    assert groups(c)[0]["name"] == "Team B"


def test_older_user_update_does_not_resurrect_a_deleted_user(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserDeletes", "0")
    assert c.one(c.user_update("6006", at=at(10)))["outcome"] == "applied"
    assert c.one(c.user_delete("6006", at=at(100)))["outcome"] == "applied"
    late = c.user_update("6006", firstName="Ghost", at=at(50))
    assert c.one(late) == result(
        late,
        "stale",
        f"stale: user 6006 was deleted at {at(100).isoformat()}, "
        f"after this event ({at(50).isoformat()})",
    )
    assert c.user("6006") is None
    assert users(c)["total"] == 0
    # created anew only by an update that happened after the deletion
    anew = c.user_update("6006", firstName="Back", at=at(200))
    assert c.one(anew)["reason"].startswith("created user 6006;")
    assert c.user("6006")["firstName"] == "Back"  # type: ignore[index]
    old_delete = c.user_delete("6006", at=at(150))
    assert c.one(old_delete) == result(
        old_delete, "stale", _stale_reason(at(150), "profile", at(200))
    )
    assert c.user("6006") is not None


def test_delete_and_recreate_in_one_batch(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserDeletes", "0")
    c.set_param("IgnoreGroupUpdate", "0")
    assert c.one(c.user_update("6007", firstName="First"))["outcome"] == "applied"
    assert c.one(c.group_update("g1", "Team", ["6007"]))["outcome"] == "applied"
    assert c.one(c.phone_status("6007", "BUSY"))["outcome"] == "applied"
    outcomes = c.results(c.user_delete("6007"), c.user_update("6007", firstName="Second"))
    assert [r["outcome"] for r in outcomes] == ["applied", "applied"]
    user = c.user("6007")
    assert user is not None
    # a re-created user starts afresh: no groups, phone OFFLINE
    assert (user["firstName"], user["groups"], user["phoneStatus"]) == ("Second", [], "OFFLINE")
    assert groups(c)[0]["members"] == []


# ---- unknown users -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1"])
@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("USER_DELETE", lambda c: c.user_delete("7999")),
        ("USER_STATUS", lambda c: c.user_status("7999", "LOGGED_IN")),
        ("PHONE_STATUS", lambda c: c.phone_status("7999", "BUSY")),
    ],
)
def test_events_for_an_unknown_user_are_rejected(
    connector: Connector, kind: str, make: Callable[[Connector], dict[str, Any]], value: str
) -> None:
    c = connector
    for flag in FLAGS:
        c.set_param(flag, value)
    assert c.one(c.user_update("7001"))["outcome"] == "applied"
    event = make(c)
    assert c.one(event) == result(event, "rejected", "rejected: unknown user 7999")
    assert c.user("7999") is None
    assert [u["usersUid"] for u in users(c)["items"]] == ["7001"]
    (logged,) = audit(c, login="7999")
    assert (logged["type"], logged["outcome"], logged["reason"]) == (
        kind,
        "rejected",
        "rejected: unknown user 7999",
    )


def test_events_for_a_deleted_user_are_rejected(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserDeletes", "0")
    c.set_param("IgnoreUserStatus", "0")
    assert c.one(c.user_update("7002"))["outcome"] == "applied"
    assert c.one(c.user_delete("7002"))["outcome"] == "applied"
    late = [c.phone_status("7002", "BUSY"), c.user_status("7002", "LOGGED_IN")]
    assert c.results(*late) == [
        result(e, "rejected", "rejected: unknown user 7002") for e in late
    ]
    assert c.user("7002") is None


def test_user_update_for_the_reserved_sysadmin_login_is_rejected(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserSecurity", "0")
    event = c.user_update("sysadmin", admin=True)
    assert c.one(event) == result(
        event, "rejected", "rejected: login 'sysadmin' is reserved for jtel's built-in administrator"
    )
    assert c.user("sysadmin") is None
    assert users(c)["total"] == 0


# ---- malformed input -----------------------------------------------------------------------

TYPES = "USER_UPDATE, USER_DELETE, GROUP_UPDATE, USER_STATUS, PHONE_STATUS"


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.pop(key)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda event: event.__setitem__(key, value)


MALFORMED = [
    ("no-event-id", _without("eventId"), False, "eventId: Field required"),
    ("empty-event-id", _set("eventId", ""), False, "eventId: String should have at least 1 character"),
    (
        "event-id-too-long",
        _set("eventId", "x" * 129),
        False,
        "eventId: String should have at most 128 characters",
    ),
    ("event-id-number", _set("eventId", 42), False, "eventId: Input should be a valid string"),
    (
        "occurred-at-without-offset",
        _set("occurredAt", "2026-11-25T10:00:00"),
        True,
        "occurredAt: must be RFC 3339 with an offset, e.g. 2026-11-25T10:00:00Z",
    ),
    (
        "occurred-at-date-only",
        _set("occurredAt", "2026-11-25"),
        True,
        "occurredAt: must be RFC 3339 with an offset, e.g. 2026-11-25T10:00:00Z",
    ),
    (
        "occurred-at-impossible-date",
        _set("occurredAt", "2026-02-30T10:00:00Z"),
        True,
        "occurredAt: is not a valid date and time",
    ),
    (
        "occurred-at-epoch-number",
        _set("occurredAt", 1764064800),
        True,
        "occurredAt: Input should be a valid string",
    ),
    ("no-occurred-at", _without("occurredAt"), True, "occurredAt: Field required"),
    ("no-type", _without("type"), True, "type is missing"),
    (
        "unknown-type",
        _set("type", "USER_CREATE"),
        True,
        f"type 'USER_CREATE' is not one of {TYPES}",
    ),
    (
        "bad-status",
        _set("status", "PAUSE"),
        True,
        "status: Input should be 'IDLE', 'RINGING', 'BUSY' or 'OFFLINE'",
    ),
    ("no-login", _without("login"), True, "login: Field required"),
    ("login-number", _set("login", 8001), True, "login: Input should be a valid string"),
]


@pytest.mark.parametrize(
    ("mutate", "echoes_id", "problem"),
    [pytest.param(m, e, p, id=name) for name, m, e, p in MALFORMED],
)
def test_a_malformed_event_is_rejected_and_the_others_are_processed(
    connector: Connector,
    mutate: Callable[[dict[str, Any]], None],
    echoes_id: bool,
    problem: str,
) -> None:
    c = connector
    before = c.user_update("8001")
    bad = c.phone_status("8001", "RINGING")
    after = c.phone_status("8001", "BUSY")
    mutate(bad)
    answers = c.results(before, bad, after)
    reason = f"rejected: malformed event: {problem}"
    assert answers[0]["outcome"] == "applied"
    assert answers[1] == {
        "eventId": bad["eventId"] if echoes_id else None,
        "outcome": "rejected",
        "reason": reason,
    }
    assert answers[2] == result(after, "applied", "telephone status OFFLINE -> BUSY")
    assert c.user("8001")["phoneStatus"] == "BUSY"  # type: ignore[index]
    (logged,) = audit(c, outcome="rejected")
    assert logged["reason"] == reason
    assert logged["eventId"] == (bad["eventId"] if echoes_id else None)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (
            lambda c: c.user_update("8002", admin="yes"),
            "user.admin: Input should be a valid boolean",
        ),
        (lambda c: c.user_update("8002", firstName=None), "user.firstName: Input should be a valid string"),
        (lambda c: c.next_event("USER_UPDATE", login="8002"), "user: Field required"),
        (
            lambda c: c.user_status("8002", "AWAY"),
            "status: Input should be 'LOGGED_IN' or 'LOGGED_OUT'",
        ),
        (lambda c: c.next_event("USER_DELETE", user={"login": "8002"}), "login: Field required"),
        (
            lambda c: c.group_update("g8", "Team", "8002"),  # type: ignore[arg-type]
            "group.members: Input should be a valid list",
        ),
        (
            lambda c: c.group_update("", "Team", []),
            "group.id: must be a string of 1 to 128 characters or an integer",
        ),
        (
            lambda c: c.group_update(True, "Team", []),  # type: ignore[arg-type]
            "group.id.str: Input should be a valid string; "
            "group.id.int: Input should be a valid integer",
        ),
    ],
    ids=[
        "admin-not-boolean",
        "first-name-null",
        "user-missing",
        "unknown-login-status",
        "delete-without-login",
        "members-not-a-list",
        "empty-group-id",
        "group-id-boolean",
    ],
)
def test_malformed_bodies_of_each_type_are_rejected(
    connector: Connector, make: Callable[[Connector], dict[str, Any]], problem: str
) -> None:
    c = connector
    for flag in FLAGS:
        c.set_param(flag, "0")
    bad = make(c)
    good = c.user_update("8003")
    assert c.results(bad, good) == [
        result(bad, "rejected", f"rejected: malformed event: {problem}"),
        result(good, "applied", f"created user 8003; random password, to be set by the "
               f"administrator ({P}UserPasswordSetUID=0); admin=no ({P}IgnoreUserSecurity=0)"),
    ]
    assert [u["usersUid"] for u in users(c)["items"]] == ["8003"]
    assert groups(c) == []


def _assert_nothing_applied(c: Connector) -> None:
    assert users(c)["total"] == 0
    assert audit(c) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"events": []},
        {"events": {}},
        {"events": "USER_UPDATE"},
        {"events": None},
        {"Events": [{"type": "USER_UPDATE"}]},
        [],
        "events",
    ],
    ids=["empty-object", "empty-list", "object", "string", "null", "wrong-key", "array", "text"],
)
def test_a_malformed_envelope_is_422_and_nothing_is_applied(
    connector: Connector, body: Any
) -> None:
    c = connector
    assert c.open_session().status_code == 200
    response = c.http.post(
        f"{c.url}/starface/v1/events", json=body, headers={"X-Session-Id": c.session_id or ""}
    )
    assert response.status_code == 422, response.text
    assert "events" in response.text
    _assert_nothing_applied(c)


def test_an_envelope_with_a_non_object_event_is_422_and_nothing_is_applied(
    connector: Connector,
) -> None:
    c = connector
    response = c.send(c.user_update("8101"), "not an event")  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    _assert_nothing_applied(c)


@pytest.mark.parametrize(
    "raw", [b"{", b"", b"events=1", b'{"events": [}'], ids=["truncated", "empty", "form", "broken"]
)
def test_a_body_that_is_not_json_is_422_and_nothing_is_applied(
    connector: Connector, raw: bytes
) -> None:
    c = connector
    assert c.open_session().status_code == 200
    response = c.http.post(
        f"{c.url}/starface/v1/events",
        content=raw,
        headers={"X-Session-Id": c.session_id or "", "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    _assert_nothing_applied(c)


def test_1000_events_are_accepted_and_1001_are_refused_whole(connector: Connector) -> None:
    c = connector
    too_many = [c.user_update(f"9{n:04d}") for n in range(1001)]
    response = c.send(*too_many)
    assert response.status_code in (413, 422), response.text
    assert "1000" in response.text
    _assert_nothing_applied(c)
    answers = c.results(*too_many[:1000])
    assert [a["eventId"] for a in answers] == [e["eventId"] for e in too_many[:1000]]
    assert {a["outcome"] for a in answers} == {"applied"}
    assert users(c, limit=1)["total"] == 1000


# ---- the audit log has every event, with outcome and reason --------------------------------


def test_every_event_is_audited_with_its_outcome_and_reason(connector: Connector) -> None:
    c = connector
    sent = [
        c.user_update("8201"),
        c.user_status("8201", "LOGGED_IN"),
        c.phone_status("8201", "RINGING"),
        c.user_delete("nobody"),
        {"eventId": "broken", "type": "PHONE_STATUS"},
    ]
    sent.append(dict(sent[2]))
    answers = c.results(*sent)
    logged = list(reversed(audit(c)))
    assert [(e["eventId"], e["outcome"], e["reason"]) for e in logged] == [
        (a["eventId"], a["outcome"], a["reason"]) for a in answers
    ]
    assert [e["outcome"] for e in logged] == [
        "applied",
        "ignored",
        "applied",
        "rejected",
        "rejected",
        "duplicate",
    ]
    assert [e["type"] for e in logged] == [
        "USER_UPDATE",
        "USER_STATUS",
        "PHONE_STATUS",
        "USER_DELETE",
        "PHONE_STATUS",
        "PHONE_STATUS",
    ]
    assert logged[0]["occurredAt"] == sent[0]["occurredAt"]
    assert logged[3]["login"] == "nobody"


# ---- concurrency ---------------------------------------------------------------------------

ACD_OF = {"LOGGED_IN": "CALLS_AND_MEDIA", "LOGGED_OUT": "LOGGED_OFF"}


def _post_batches(
    url: str, session_id: str, batches: list[list[dict[str, Any]]], start: threading.Barrier
) -> list[httpx.Response]:
    with httpx.Client(timeout=60) as http:
        start.wait()
        return [
            http.post(
                f"{url}/starface/v1/events",
                json={"events": batch},
                headers={"X-Session-Id": session_id},
            )
            for batch in batches
        ]


def _run_threads(
    c: Connector, per_thread: list[list[list[dict[str, Any]]]]
) -> list[list[httpx.Response]]:
    assert c.open_session().status_code == 200
    assert c.session_id is not None
    start = threading.Barrier(len(per_thread))
    answers: list[list[httpx.Response]] = [[] for _ in per_thread]

    def work(index: int) -> None:
        answers[index] = _post_batches(c.url, c.session_id or "", per_thread[index], start)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(per_thread))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    return answers


def test_concurrent_batches_on_one_user_lose_no_update(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    assert c.one(c.user_update("9901", firstName="start", at=at(0)))["outcome"] == "applied"
    rng = random.Random(20261125)
    threads, batches, per_batch = 4, 5, 6
    moments = rng.sample(range(1, 100_000), threads * batches * per_batch)
    events: list[dict[str, Any]] = []
    aspect_of: dict[str, str] = {}
    for n, second in enumerate(moments):
        if n % 3 == 0:
            event = c.phone_status("9901", rng.choice(["IDLE", "RINGING", "BUSY"]), at=at(second))
            aspect_of[event["eventId"]] = "phone status"
        elif n % 3 == 1:
            event = c.user_update("9901", firstName=f"name-{second}", at=at(second))
            aspect_of[event["eventId"]] = "profile"
        else:
            event = c.user_status("9901", rng.choice(["LOGGED_IN", "LOGGED_OUT"]), at=at(second))
            aspect_of[event["eventId"]] = "ACD status"
        events.append(event)
    per_thread = [
        [
            events[(t * batches + b) * per_batch : (t * batches + b + 1) * per_batch]
            for b in range(batches)
        ]
        for t in range(threads)
    ]
    responses = _run_threads(c, per_thread)

    answered: dict[str, str] = {}
    for thread_batches, thread_responses in zip(per_thread, responses, strict=True):
        for batch, response in zip(thread_batches, thread_responses, strict=True):
            assert response.status_code == 200, response.text
            results = response.json()["results"]
            assert [r["eventId"] for r in results] == [e["eventId"] for e in batch]
            for r in results:
                assert r["outcome"] in ("applied", "stale"), r
                answered[r["eventId"]] = r["outcome"]
    assert len(answered) == len(events)

    # the audit log holds every event exactly once; replayed in commit order, each event is
    # applied exactly when it is not older than the newest applied event of its aspect
    logged = list(reversed(audit(c, login="9901", limit=1000)))
    assert logged[0]["type"] == "USER_UPDATE"
    logged = logged[1:]
    assert sorted(e["eventId"] for e in logged) == sorted(e["eventId"] for e in events)
    by_id = {e["eventId"]: e for e in events}
    newest: dict[str, datetime] = {"profile": at(0)}
    for entry in logged:
        aspect = aspect_of[entry["eventId"]]
        moment = datetime.fromisoformat(by_id[entry["eventId"]]["occurredAt"])
        expected = "stale" if aspect in newest and moment < newest[aspect] else "applied"
        assert (entry["outcome"], answered[entry["eventId"]]) == (expected, expected), entry
        if expected == "applied":
            newest[aspect] = moment

    def latest(aspect: str) -> dict[str, Any]:
        return max(
            (e for e in events if aspect_of[e["eventId"]] == aspect),
            key=lambda e: e["occurredAt"],
        )

    user = c.user("9901")
    assert user is not None
    assert user["firstName"] == latest("profile")["user"]["firstName"]
    assert user["phoneStatus"] == latest("phone status")["status"]
    assert user["acdStatus"] == ACD_OF[latest("ACD status")["status"]]


def test_the_same_event_sent_concurrently_is_applied_once(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("9902"))["outcome"] == "applied"
    event = c.phone_status("9902", "BUSY")
    copies = 4
    responses = _run_threads(c, [[[event]] for _ in range(copies)])
    outcomes = sorted(r[0].json()["results"][0]["outcome"] for r in responses)
    assert outcomes == ["applied"] + ["duplicate"] * (copies - 1)
    logged = audit(c, login="9902", type="PHONE_STATUS")
    assert sorted(e["outcome"] for e in logged) == outcomes
    assert c.user("9902")["phoneStatus"] == "BUSY"  # type: ignore[index]
