"""POST /starface/v1/events through real HTTP, on every database backend.

The parameter matrix runs each event type with the parameter(s) that govern it at 0 and at 1,
crossed with every other parameter at 0 and at 1 (SessionExpireSeconds at its bounds): the
expectations depend on the governing parameters only, so the others are shown to change
nothing. Then duplicates, stale events per aspect, unknown users, malformed input, the event
log and concurrency. Every test checks the outcome, the exact reason and the resulting state
read back through the jtel API.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update

from starface_connector.domain.parameters import DEFAULTS
from starface_connector.storage.tables import BatchLockRow
from tests.conftest import REPO_ROOT, Connector
from tests.integration.helpers import (
    FLAGS,
    P,
    at,
    can_log_in,
    event_log,
    get_user,
    groups,
    result,
    users,
)

OTHERS = pytest.mark.parametrize("others", ["0", "1"], ids=["others=0", "others=1"])


def configure(c: Connector, others: str, **governing: str) -> None:
    """Every flag to ``others`` (session expiry to a bound), then the governing ones.

    Each test starts from the standard values, so only the differing ones are sent.
    """
    settings = {flag: others for flag in FLAGS}
    settings["SessionExpireSeconds"] = "10" if others == "0" else "86400"
    settings.update(governing)
    for name, value in settings.items():
        if value != DEFAULTS[P + name]:
            c.set_param(name, value)
    current = c.admin("GET", "/api/v1/parameters").json()
    assert {p["name"]: p["value"] for p in current} == {P + n: v for n, v in settings.items()}


# ---- the parameter matrix: every parameter at 0 and at 1 for every event type --------------

PASSWORD_NOTE = {
    "1": f"password = UsersUID ({P}UserPasswordSetUID=1)",
    "0": f"random password, to be set by the administrator ({P}UserPasswordSetUID=0)",
}


@OTHERS
@pytest.mark.parametrize("password_uid", ["0", "1"], ids=lambda v: f"UserPasswordSetUID={v}")
@pytest.mark.parametrize("ignore_security", ["0", "1"], ids=lambda v: f"IgnoreUserSecurity={v}")
def test_user_update_per_parameters(
    connector: Connector, ignore_security: str, password_uid: str, others: str
) -> None:
    c = connector
    configure(c, others, IgnoreUserSecurity=ignore_security, UserPasswordSetUID=password_uid)
    follows = ignore_security == "0"

    anna: dict[str, Any] = {
        "firstName": "Anna",
        "familyName": "Müller",
        "email": "anna@example.com",
        "language": "de",
        "phoneNumbers": ["+49 30 1001", "1001"],
    }
    create = c.user_update("1001", admin=True, **anna)
    admin_note = (
        f"admin=yes ({P}IgnoreUserSecurity=0)"
        if follows
        else f"admin flag not taken ({P}IgnoreUserSecurity=1)"
    )
    assert c.one(create) == result(
        create, "applied", f"created user 1001; {PASSWORD_NOTE[password_uid]}; {admin_note}"
    )
    user = c.user("1001")
    assert user is not None
    assert {k: v for k, v in user.items() if k not in ("createdAt", "updatedAt")} == {
        "usersUid": "1001",
        "firstName": "Anna",
        "lastName": "Müller",
        "email": "anna@example.com",
        "language": "de",
        "admin": follows,
        "phoneNumbers": ["+49 30 1001", "1001"],
        "acdStatus": "LOGGED_OFF",
        "phoneStatus": "OFFLINE",
        "dnd": False,
        "groups": [],
    }

    # an update that revokes the flag (only an admin created under IgnoreUserSecurity=0 has it)
    anna["familyName"] = "Schmidt"
    revoke = c.user_update("1001", admin=False, **anna)
    assert c.one(revoke) == result(
        revoke,
        "applied",
        f"updated lastName; admin flag revoked ({P}IgnoreUserSecurity=0)"
        if follows
        else "updated lastName",
    )
    # an update that grants it
    grant = c.user_update("1001", admin=True, **anna)
    assert c.one(grant) == result(
        grant,
        "applied",
        f"admin flag granted ({P}IgnoreUserSecurity=0)"
        if follows
        else f"no change; admin flag not changed ({P}IgnoreUserSecurity=1)",
    )
    user = c.user("1001")
    assert user is not None
    assert (user["lastName"], user["admin"]) == ("Schmidt", follows)
    # the first password was set at creation and no update touched it
    assert can_log_in(c, "1001", "1001") is (password_uid == "1")


@OTHERS
@pytest.mark.parametrize("value", ["0", "1"], ids=lambda v: f"IgnoreUserDeletes={v}")
def test_user_delete_per_parameters(connector: Connector, value: str, others: str) -> None:
    c = connector
    configure(c, others, IgnoreUserDeletes=value)
    assert c.one(c.user_update("2001"))["outcome"] == "applied"
    assert c.one(c.user_update("2002"))["outcome"] == "applied"
    event = c.user_delete("2001")
    if value == "0":
        assert c.one(event) == result(
            event, "applied", f"deleted user 2001 ({P}IgnoreUserDeletes=0)"
        )
        assert c.user("2001") is None
        assert [u["usersUid"] for u in users(c)["items"]] == ["2002"]
    else:
        assert c.one(event) == result(event, "ignored", f"ignored: {P}IgnoreUserDeletes=1")
        assert c.user("2001") is not None
        assert [u["usersUid"] for u in users(c)["items"]] == ["2001", "2002"]


@OTHERS
@pytest.mark.parametrize("value", ["0", "1"], ids=lambda v: f"IgnoreGroupUpdate={v}")
def test_group_update_per_parameters(connector: Connector, value: str, others: str) -> None:
    c = connector
    configure(c, others, IgnoreGroupUpdate=value)
    assert c.one(c.user_update("2101"))["outcome"] == "applied"
    assert c.one(c.user_update("2102"))["outcome"] == "applied"
    create = c.group_update(42, "Support", ["2102", "ghost", "2101"])
    rename = c.group_update(42, "Support 2", ["2101", "zz-ghost", "a-ghost"])
    answers = c.results(create, rename)
    if value == "1":
        ignored = f"ignored: {P}IgnoreGroupUpdate=1"
        assert answers == [result(create, "ignored", ignored), result(rename, "ignored", ignored)]
        assert groups(c) == []
        assert get_user(c, "2101")["groups"] == []
        return
    assert answers == [
        result(
            create,
            "applied",
            f"created group 42 'Support' with 2 member(s) ({P}IgnoreGroupUpdate=0); "
            "unknown login(s) not added: ghost",
        ),
        result(
            rename,
            "applied",
            f"updated group 42: name 'Support' -> 'Support 2'; removed 2102 "
            f"({P}IgnoreGroupUpdate=0); unknown login(s) not added: a-ghost, zz-ghost",
        ),
    ]
    assert [(g["id"], g["name"], g["members"]) for g in groups(c)] == [
        ("42", "Support 2", ["2101"])
    ]
    assert (get_user(c, "2101")["groups"], get_user(c, "2102")["groups"]) == (["42"], [])
    again = c.group_update("42", "Support 2", ["2101"])
    assert c.one(again) == result(again, "applied", f"no change ({P}IgnoreGroupUpdate=0)")


@OTHERS
@pytest.mark.parametrize("value", ["0", "1"], ids=lambda v: f"IgnoreUserStatus={v}")
def test_user_status_per_parameters(connector: Connector, value: str, others: str) -> None:
    c = connector
    configure(c, others, IgnoreUserStatus=value)
    # a manual ACD change below leaves the ACD clock alone: later PBX events still apply
    assert c.one(c.user_update("3001"))["outcome"] == "applied"
    ignored = f"ignored: {P}IgnoreUserStatus=1"
    steps = [
        (
            "LOGGED_IN",
            "CALLS_AND_MEDIA",
            f"ACD status LOGGED_OFF -> CALLS_AND_MEDIA (LOGGED_IN; {P}IgnoreUserStatus=0)",
        ),
        (
            "LOGGED_IN",
            "CALLS_AND_MEDIA",
            f"no change: already CALLS_AND_MEDIA ({P}IgnoreUserStatus=0)",
        ),
        ("PAUSE", "PAUSE", None),  # the agent pauses in jtel
        (
            "LOGGED_IN",
            "PAUSE",
            f"no change: LOGGED_IN leaves an agent on PAUSE ({P}IgnoreUserStatus=0)",
        ),
        (
            "LOGGED_OUT",
            "LOGGED_OFF",
            f"ACD status PAUSE -> LOGGED_OFF (LOGGED_OUT; {P}IgnoreUserStatus=0)",
        ),
    ]
    expected_status = "LOGGED_OFF"
    for status, applied_status, reason in steps:
        if reason is None:
            response = c.admin("PUT", "/api/v1/users/3001/acd-status", json={"acdStatus": status})
            assert response.status_code == 200, response.text
            expected_status = status
        else:
            event = c.user_status("3001", status)
            if value == "0":
                assert c.one(event) == result(event, "applied", reason)
                expected_status = applied_status
            else:
                assert c.one(event) == result(event, "ignored", ignored)
        assert get_user(c, "3001")["acdStatus"] == expected_status


@OTHERS
def test_phone_status_per_parameters(connector: Connector, others: str) -> None:
    c = connector
    configure(c, others)
    assert c.one(c.user_update("4001"))["outcome"] == "applied"
    for before, status in (("OFFLINE", "RINGING"), ("RINGING", "BUSY"), ("BUSY", "IDLE")):
        event = c.phone_status("4001", status)
        assert c.one(event) == result(event, "applied", f"telephone status {before} -> {status}")
        assert get_user(c, "4001")["phoneStatus"] == status
    same = c.phone_status("4001", "IDLE")
    assert c.one(same) == result(same, "applied", "no change: already IDLE")
    offline = c.phone_status("4001", "OFFLINE")
    assert c.one(offline) == result(offline, "applied", "telephone status IDLE -> OFFLINE")
    assert get_user(c, "4001")["phoneStatus"] == "OFFLINE"


# ---- more of each rule ---------------------------------------------------------------------


def test_user_update_reports_every_changed_profile_field_and_no_change(
    connector: Connector,
) -> None:
    c = connector
    assert c.one(c.user_update("1005"))["outcome"] == "applied"
    fields: dict[str, Any] = {
        "firstName": "Carl",
        "familyName": "Weber",
        "email": "carl@example.com",
        "language": "en",
        "phoneNumbers": ["+49 89 555"],
    }
    changed = c.user_update("1005", **fields)
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
    same = c.user_update("1005", **fields)
    assert c.one(same) == result(same, "applied", "no change")


def test_user_delete_removes_the_user_from_groups_and_logins(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreGroupUpdate", "0")
    c.set_param("IgnoreUserDeletes", "0")
    assert c.one(c.user_update("2201"))["outcome"] == "applied"
    assert c.one(c.user_update("2202"))["outcome"] == "applied"
    assert c.one(c.group_update("g1", "Sales", ["2201", "2202"]))["outcome"] == "applied"
    assert can_log_in(c, "2201", "2201")
    assert c.one(c.user_delete("2201"))["outcome"] == "applied"
    assert [(g["id"], g["members"]) for g in groups(c)] == [("g1", ["2202"])]
    assert c.user("2201") is None
    assert not can_log_in(c, "2201", "2201")


def test_a_parameter_change_applies_to_the_next_event(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("4007"))["outcome"] == "applied"
    first = c.user_status("4007", "LOGGED_IN")
    assert c.one(first) == result(first, "ignored", f"ignored: {P}IgnoreUserStatus=1")
    c.set_param("IgnoreUserStatus", "0")
    assert c.one(c.user_status("4007", "LOGGED_IN"))["outcome"] == "applied"
    c.set_param("IgnoreUserStatus", "1")
    third = c.user_status("4007", "LOGGED_OUT")
    assert c.one(third) == result(third, "ignored", f"ignored: {P}IgnoreUserStatus=1")
    assert get_user(c, "4007")["acdStatus"] == "CALLS_AND_MEDIA"


def test_a_manual_acd_change_does_not_make_later_pbx_status_events_stale(
    connector: Connector,
) -> None:
    """STARFACE's clock, not the connector's, orders login events: a LOGGED_OUT that happened
    before a manual change by the connector's clock but after the last STARFACE event applies."""
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    assert c.one(c.user_update("3201", at=at(0)))["outcome"] == "applied"
    assert c.one(c.user_status("3201", "LOGGED_IN", at=at(10)))["outcome"] == "applied"
    response = c.admin("PUT", "/api/v1/users/3201/acd-status", json={"acdStatus": "PAUSE"})
    assert response.status_code == 200, response.text
    assert get_user(c, "3201")["acdStatus"] == "PAUSE"

    logged_out = c.one(c.user_status("3201", "LOGGED_OUT", at=at(20)))
    assert logged_out["outcome"] == "applied"
    assert logged_out["reason"] == (
        f"ACD status PAUSE -> LOGGED_OFF (LOGGED_OUT; {P}IgnoreUserStatus=0)"
    )
    assert get_user(c, "3201")["acdStatus"] == "LOGGED_OFF"
    older = c.one(c.user_status("3201", "LOGGED_IN", at=at(15)))
    assert older["outcome"] == "stale"  # older than the last STARFACE status event
    assert get_user(c, "3201")["acdStatus"] == "LOGGED_OFF"


# ---- duplicates ----------------------------------------------------------------------------


def _firsts_and_seconds(c: Connector) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Five events that take effect, one per type, and five different ones with their ids."""
    firsts = [
        c.user_update("5001", firstName="One"),
        c.user_delete("5002"),
        c.group_update("g5", "One", ["5001"]),
        c.user_status("5001", "LOGGED_IN"),
        c.phone_status("5001", "BUSY"),
    ]
    seconds = [
        c.user_update("5001", firstName="Two"),
        c.user_update("5002"),
        c.group_update("g5", "Two", []),
        c.user_status("5001", "LOGGED_OUT"),
        c.phone_status("5001", "IDLE"),
    ]
    for first, second in zip(firsts, seconds, strict=True):
        second["eventId"] = first["eventId"]
    return firsts, seconds


def _prepare_duplicates(c: Connector) -> None:
    for flag in ("IgnoreGroupUpdate", "IgnoreUserDeletes", "IgnoreUserStatus"):
        c.set_param(flag, "0")
    assert c.one(c.user_update("5001", firstName="Zero"))["outcome"] == "applied"
    assert c.one(c.user_update("5002"))["outcome"] == "applied"


def _after_firsts(c: Connector) -> None:
    user = c.user("5001")
    assert user is not None
    assert (user["firstName"], user["acdStatus"], user["phoneStatus"]) == (
        "One",
        "CALLS_AND_MEDIA",
        "BUSY",
    )
    assert c.user("5002") is None
    assert [(g["id"], g["name"], g["members"]) for g in groups(c)] == [("g5", "One", ["5001"])]


def _duplicate(event: dict[str, Any]) -> dict[str, Any]:
    return result(
        event, "duplicate", f"duplicate: eventId {event['eventId']!r} was already processed"
    )


def test_same_event_ids_in_a_later_batch_are_duplicates_and_change_nothing(
    connector: Connector,
) -> None:
    c = connector
    _prepare_duplicates(c)
    firsts, seconds = _firsts_and_seconds(c)
    assert {r["outcome"] for r in c.results(*firsts)} == {"applied"}
    state = (users(c), groups(c))
    assert c.results(*seconds) == [_duplicate(e) for e in seconds]
    assert (users(c), groups(c)) == state  # not even updatedAt moved
    _after_firsts(c)
    logged = event_log(c, outcome="duplicate")
    assert sorted(e["eventId"] for e in logged) == sorted(e["eventId"] for e in seconds)


def test_same_event_ids_within_one_batch_are_duplicates(connector: Connector) -> None:
    c = connector
    _prepare_duplicates(c)
    firsts, seconds = _firsts_and_seconds(c)
    batch = [e for pair in zip(firsts, seconds, strict=True) for e in pair]
    answers = c.results(*batch)
    assert [a["outcome"] for a in answers[0::2]] == ["applied"] * 5
    assert answers[1::2] == [_duplicate(e) for e in seconds]
    _after_firsts(c)


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
    retries = [c.phone_status("5101", "BUSY"), c.user_status("5101", "LOGGED_IN")]
    retries[0]["eventId"], retries[1]["eventId"] = rejected["eventId"], ignored["eventId"]
    assert c.results(*retries) == [_duplicate(e) for e in retries]
    user = c.user("5101")
    assert user is not None
    assert (user["phoneStatus"], user["acdStatus"]) == ("OFFLINE", "LOGGED_OFF")


def test_event_ids_are_compared_exactly(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("5201"))["outcome"] == "applied"
    events = [c.phone_status("5201", s) for s in ("RINGING", "BUSY", "IDLE", "RINGING")]
    for event, event_id in zip(
        events, ["Evt-Case", "evt-case", "evt-case ", "e" * 128], strict=True
    ):
        event["eventId"] = event_id
    assert [r["outcome"] for r in c.results(*events)] == ["applied"] * 4
    assert get_user(c, "5201")["phoneStatus"] == "RINGING"
    again = c.phone_status("5201", "BUSY")
    again["eventId"] = "evt-case"
    assert c.one(again) == _duplicate(again)
    logged = [e["eventId"] for e in event_log(c, login="5201", type="PHONE_STATUS")]
    assert logged == ["evt-case", "e" * 128, "evt-case ", "evt-case", "Evt-Case"]


# ---- stale: each aspect keeps its own clock -----------------------------------------------


def _stale_reason(event_at: datetime, aspect: str, last: datetime) -> str:
    return (
        f"stale: occurredAt {event_at.isoformat()} is older than the last applied "
        f"{aspect} event ({last.isoformat()})"
    )


def test_an_older_event_of_each_aspect_is_stale_and_changes_nothing(
    connector: Connector,
) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    c.set_param("IgnoreGroupUpdate", "0")
    newer = [
        c.user_update("6001", firstName="New", at=at(100)),
        c.user_status("6001", "LOGGED_IN", at=at(100)),
        c.phone_status("6001", "BUSY", at=at(100)),
        c.group_update("g6", "New", ["6001"], at=at(100)),
    ]
    assert [r["outcome"] for r in c.results(*newer)] == ["applied"] * 4
    # 10:01:39+01:00 is 09:01:39Z, one second before the applied events at 09:01:40Z
    older_phone = c.phone_status("6001", "IDLE")
    older_phone["occurredAt"] = "2026-11-25T10:01:39+01:00"
    older = [
        c.user_update("6001", firstName="Old", admin=True, at=at(50)),
        c.user_status("6001", "LOGGED_OUT", at=at(99)),
        older_phone,
        c.group_update("g6", "Old", [], at=at(60)),
    ]
    assert c.results(*older) == [
        result(older[0], "stale", _stale_reason(at(50), "profile", at(100))),
        result(older[1], "stale", _stale_reason(at(99), "ACD status", at(100))),
        result(
            older[2],
            "stale",
            _stale_reason(
                datetime.fromisoformat("2026-11-25T10:01:39+01:00"), "phone status", at(100)
            ),
        ),
        result(older[3], "stale", _stale_reason(at(60), "group", at(100))),
    ]
    user = c.user("6001")
    assert user is not None
    assert (user["firstName"], user["admin"], user["acdStatus"], user["phoneStatus"]) == (
        "New",
        False,
        "CALLS_AND_MEDIA",
        "BUSY",
    )
    assert [(g["name"], g["members"]) for g in groups(c)] == [("New", ["6001"])]
    # the same moment is not older: applied
    same = [
        c.user_update("6001", firstName="Same", at=at(100)),
        c.phone_status("6001", "IDLE", at=at(100)),
    ]
    assert c.results(*same) == [
        result(same[0], "applied", "updated firstName"),
        result(same[1], "applied", "telephone status BUSY -> IDLE"),
    ]


def test_aspects_are_independent(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    c.set_param("IgnoreGroupUpdate", "0")
    assert c.one(c.user_update("6005", firstName="Late", at=at(1000)))["outcome"] == "applied"
    # older than the profile, but each the first of its own aspect: applied
    early = [
        c.phone_status("6005", "RINGING", at=at(10)),
        c.user_status("6005", "LOGGED_IN", at=at(20)),
        c.group_update("g1", "Team", ["6005"], at=at(5)),
    ]
    assert [r["outcome"] for r in c.results(*early)] == ["applied"] * 3
    # a much newer phone event makes older events of other aspects no less valid
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
    assert get_user(c, "6006")["firstName"] == "Back"
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
    answers = c.results(c.user_delete("6007"), c.user_update("6007", firstName="Second"))
    assert [r["outcome"] for r in answers] == ["applied", "applied"]
    user = c.user("6007")
    assert user is not None
    # a re-created user starts afresh: no groups, phone OFFLINE
    assert (user["firstName"], user["groups"], user["phoneStatus"]) == ("Second", [], "OFFLINE")
    assert groups(c)[0]["members"] == []


# ---- unknown users -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1"], ids=lambda v: f"all-flags={v}")
def test_events_for_an_unknown_user_are_rejected(connector: Connector, value: str) -> None:
    c = connector
    for flag in FLAGS:
        c.set_param(flag, value)
    assert c.one(c.user_update("7001"))["outcome"] == "applied"
    events = [
        c.user_delete("7999"),
        c.user_status("7999", "LOGGED_IN"),
        c.phone_status("7999", "BUSY"),
    ]
    assert c.results(*events) == [
        result(e, "rejected", "rejected: unknown user 7999") for e in events
    ]
    assert c.user("7999") is None
    assert [u["usersUid"] for u in users(c)["items"]] == ["7001"]
    logged = event_log(c, login="7999")
    assert [(e["type"], e["outcome"], e["reason"]) for e in reversed(logged)] == [
        (kind, "rejected", "rejected: unknown user 7999")
        for kind in ("USER_DELETE", "USER_STATUS", "PHONE_STATUS")
    ]


def test_events_for_a_deleted_user_are_rejected(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserDeletes", "0")
    c.set_param("IgnoreUserStatus", "0")
    assert c.one(c.user_update("7002"))["outcome"] == "applied"
    assert c.one(c.user_delete("7002"))["outcome"] == "applied"
    late = [c.phone_status("7002", "BUSY"), c.user_status("7002", "LOGGED_IN")]
    late.append(c.user_delete("7002"))
    assert c.results(*late) == [result(e, "rejected", "rejected: unknown user 7002") for e in late]
    assert c.user("7002") is None


def test_user_update_for_the_reserved_sysadmin_login_is_rejected(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserSecurity", "0")
    event = c.user_update("sysadmin", admin=True)
    assert c.one(event) == result(
        event,
        "rejected",
        "rejected: login 'sysadmin' is reserved for jtel's built-in administrator",
    )
    assert c.user("sysadmin") is None
    assert users(c)["total"] == 0


# ---- malformed input -----------------------------------------------------------------------

TYPES = "USER_UPDATE, USER_DELETE, GROUP_UPDATE, USER_STATUS, PHONE_STATUS, DND_STATUS"
NO_OFFSET = "occurredAt: must be RFC 3339 with an offset, e.g. 2026-11-25T10:00:00Z"
# (what to change in a valid PHONE_STATUS event, whether its eventId is echoed, the problem)
MALFORMED_ENVELOPE_FIELDS: list[tuple[dict[str, Any], bool, str]] = [
    ({"eventId": None}, False, "eventId: Input should be a valid string"),
    ({"eventId": ""}, False, "eventId: String should have at least 1 character"),
    ({"eventId": "x" * 129}, False, "eventId: String should have at most 128 characters"),
    ({"eventId": 42}, False, "eventId: Input should be a valid string"),
    ({"eventId": "evt\x00x"}, False, "eventId: must not contain the NUL character"),
    ({"occurredAt": "2026-11-25T10:00:00"}, True, NO_OFFSET),
    ({"occurredAt": "2026-11-25T10:00:00.5"}, True, NO_OFFSET),
    ({"occurredAt": "2026-11-25"}, True, NO_OFFSET),
    ({"occurredAt": "25.11.2026 10:00 +01:00"}, True, NO_OFFSET),
    ({"occurredAt": "2026-02-30T10:00:00Z"}, True, "occurredAt: is not a valid date and time"),
    ({"occurredAt": 1764064800}, True, "occurredAt: Input should be a valid string"),
    ({"occurredAt": None}, True, "occurredAt: Input should be a valid string"),
    ({"occurredAt": "0001-01-01T00:00:00+01:00"}, True, "occurredAt: is out of range"),
    ({"occurredAt": "9999-12-31T23:59:59-01:00"}, True, "occurredAt: is out of range"),
    ({"type": None}, True, "type is missing"),
    ({"type": "USER_CREATE"}, True, f"type 'USER_CREATE' is not one of {TYPES}"),
    ({"type": "phone_status"}, True, f"type 'phone_status' is not one of {TYPES}"),
    (
        {"status": "PAUSE"},
        True,
        "status: Input should be 'IDLE', 'RINGING', 'BUSY', 'OFFLINE', 'QUEUE_PAUSE', "
        "'AVAILABLE', 'ACTIVE' or 'UNAVAILABLE'",
    ),
    ({"login": None}, True, "login: Input should be a valid string"),
    ({"login": ""}, True, "login: String should have at least 1 character"),
    ({"login": 8001}, True, "login: Input should be a valid string"),
    ({"login": "80\x0001"}, True, "login: must not contain the NUL character"),
]
MISSING: list[tuple[str, bool, str]] = [
    ("eventId", False, "eventId: Field required"),
    ("occurredAt", True, "occurredAt: Field required"),
    ("type", True, "type is missing"),
    ("login", True, "login: Field required"),
    ("status", True, "status: Field required"),
]


def test_malformed_events_are_rejected_and_the_others_processed(connector: Connector) -> None:
    c = connector
    batch = [c.user_update("8001")]
    expected: list[dict[str, Any]] = [result(batch[0], "applied", "")]
    for changes, echoes, problem in MALFORMED_ENVELOPE_FIELDS:
        bad = {**c.phone_status("8001", "RINGING"), **changes}
        batch.append(bad)
        expected.append(
            {
                "eventId": bad["eventId"] if echoes else None,
                "outcome": "rejected",
                "reason": f"rejected: malformed event: {problem}",
            }
        )
    for key, echoes, problem in MISSING:
        bad = c.phone_status("8001", "RINGING")
        del bad[key]
        batch.append(bad)
        expected.append(
            {
                "eventId": bad["eventId"] if echoes else None,
                "outcome": "rejected",
                "reason": f"rejected: malformed event: {problem}",
            }
        )
    good = c.phone_status("8001", "BUSY")
    batch.append(good)
    expected.append(result(good, "applied", "telephone status OFFLINE -> BUSY"))

    answers = c.results(*batch)
    expected[0]["reason"] = answers[0]["reason"]
    assert answers[0]["reason"].startswith("created user 8001;")
    assert answers == expected
    assert get_user(c, "8001")["phoneStatus"] == "BUSY"
    logged = list(reversed(event_log(c, outcome="rejected")))
    assert [(e["eventId"], e["reason"]) for e in logged] == [
        (e["eventId"], e["reason"]) for e in expected[1:-1]
    ]


def test_malformed_bodies_of_each_type_are_rejected_and_the_others_processed(
    connector: Connector,
) -> None:
    c = connector
    for flag in FLAGS:
        c.set_param(flag, "0")
    cases = [
        (c.user_update("8002", admin="yes"), "user.admin: Input should be a valid boolean"),
        (c.user_update("8002", firstName=None), "user.firstName: Input should be a valid string"),
        (
            c.user_update("8002", familyName="M\x00", email="\x00"),
            "user.familyName: must not contain the NUL character; "
            "user.email: must not contain the NUL character",
        ),
        (c.user_update("", firstName="x"), "user.login: String should have at least 1 character"),
        (
            c.user_update("8002", phoneNumbers="+49 30 1"),
            "user.phoneNumbers: Input should be a valid list",
        ),
        (
            c.user_update("8" * 129, phoneNumbers=[]),
            "user.login: String should have at most 128 characters",
        ),
        (c.next_event("USER_UPDATE", login="8002"), "user: Field required"),
        (c.user_status("8002", "AWAY"), "status: Input should be 'LOGGED_IN' or 'LOGGED_OUT'"),
        (c.next_event("USER_DELETE", user={"login": "8002"}), "login: Field required"),
        (c.group_update("g8", "Team", "8002"), "group.members: Input should be a valid list"),
        (
            c.group_update("g8", "Team", [8002]),
            "group.members.0: Input should be a valid string",
        ),
        (
            c.group_update("g8", "Team", ["8003", "8\x00"]),
            "group.members.1: must not contain the NUL character",
        ),
        (
            c.group_update("", "Team", []),
            "group.id: must be a string of 1 to 128 characters or an integer",
        ),
        (
            c.group_update(True, "Team", []),
            "group.id.str: Input should be a valid string; "
            "group.id.int: Input should be a valid integer",
        ),
        (
            c.next_event("GROUP_UPDATE", group={"id": "g8"}),
            "group.name: Field required; group.members: Field required",
        ),
    ]
    good = c.user_update("8003")
    answers = c.results(*(event for event, _ in cases), good)
    assert answers == [
        result(event, "rejected", f"rejected: malformed event: {problem}")
        for event, problem in cases
    ] + [
        result(
            good,
            "applied",
            f"created user 8003; {PASSWORD_NOTE['0']}; admin=no ({P}IgnoreUserSecurity=0)",
        )
    ]
    assert [u["usersUid"] for u in users(c)["items"]] == ["8003"]
    assert groups(c) == []


def _assert_readable_422(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if isinstance(detail, str):
        assert detail.strip(), response.text
    else:
        assert detail, response.text
        assert all(isinstance(d["msg"], str) and d["msg"] for d in detail), response.text


ENVELOPES: list[Any] = [
    {},
    {"events": []},
    {"events": {}},
    {"events": "USER_UPDATE"},
    {"events": None},
    {"Events": [{"type": "USER_UPDATE"}]},
    [],
    "events",
]
NOT_JSON = [b"{", b"", b"events=1", b'{"events": [}']


def test_a_malformed_envelope_is_422_and_nothing_is_applied(connector: Connector) -> None:
    c = connector
    assert c.open_session().status_code == 200
    headers = {"X-Session-Id": c.session_id or ""}
    url = f"{c.url}/starface/v1/events"
    for body in ENVELOPES:
        _assert_readable_422(c.http.post(url, json=body, headers=headers))
    for raw in NOT_JSON:
        json_headers = {**headers, "Content-Type": "application/json"}
        _assert_readable_422(c.http.post(url, content=raw, headers=json_headers))
    # the session is still good, and nothing of the above was applied or logged
    assert users(c)["total"] == 0
    assert event_log(c) == []


def test_a_list_element_that_is_not_an_object_is_one_rejected_event(connector: Connector) -> None:
    """Issue 2: a malformed single event is rejected with its reason, the others processed."""
    c = connector
    good = c.user_update("8101")
    answers = c.results(good, "not an event", 7)
    assert [(a["eventId"], a["outcome"]) for a in answers] == [
        (good["eventId"], "applied"),
        (None, "rejected"),
        (None, "rejected"),
    ]
    assert answers[1]["reason"] == "rejected: malformed event: not a JSON object"
    assert users(c)["total"] == 1
    assert [e["outcome"] for e in event_log(c)].count("rejected") == 2


def test_1000_events_are_accepted_and_1001_are_refused_whole(connector: Connector) -> None:
    c = connector
    too_many = [c.user_update(f"9{n:04d}") for n in range(1001)]
    response = c.send(*too_many)
    assert response.status_code in (413, 422), response.text
    assert "1000" in response.text
    assert users(c)["total"] == 0
    assert event_log(c) == []
    answers = c.results(*too_many[:1000])
    assert [a["eventId"] for a in answers] == [e["eventId"] for e in too_many[:1000]]
    assert {a["outcome"] for a in answers} == {"applied"}
    assert users(c, limit=1)["total"] == 1000


# ---- what one event may write ---------------------------------------------------------------


def test_a_group_update_over_the_member_limit_is_rejected_alone(connector: Connector) -> None:
    """STARFACE_CONNECTOR_MAX_GROUP_MEMBERS (5,000) distinct members at most; a repeated login
    counts once. The event is refused whatever IgnoreGroupUpdate says, the batch goes on."""
    c = connector
    c.set_param("IgnoreGroupUpdate", "0")
    members = [f"m{n:05d}" for n in range(5001)]
    sent = [
        c.user_update("8401"),
        c.group_update(7, "Everyone", ["8401", *members]),
        c.group_update(8, "Nearly everyone", [*members[:4999], "8401", "8401"]),
        c.phone_status("8401", "BUSY"),
    ]
    answers = c.results(*sent)
    assert [a["outcome"] for a in answers] == ["applied", "rejected", "applied", "applied"]
    assert answers[1] == result(
        sent[1],
        "rejected",
        "rejected: group 7 has 5002 members, more than the 5000 one event may set "
        "(STARFACE_CONNECTOR_MAX_GROUP_MEMBERS)",
    )
    assert [(g["id"], g["members"]) for g in groups(c)] == [("8", ["8401"])]
    assert get_user(c, "8401")["phoneStatus"] == "BUSY"
    logged = {e["eventId"]: e for e in event_log(c)}
    assert logged[sent[1]["eventId"]]["outcome"] == "rejected"
    # still a group event: once refused, the eventId is used up like any other
    assert c.one(sent[1])["outcome"] == "duplicate"


def test_a_group_update_whose_reason_passes_64_kib_is_stored(connector: Connector) -> None:
    """The reason names every unknown login; on MariaDB a TEXT column would end at 64 KiB and
    fail the whole batch."""
    c = connector
    c.set_param("IgnoreGroupUpdate", "0")
    ghosts = [f"ghost-{n:04d}-" + "x" * 110 for n in range(600)]
    sent = [
        c.user_update("8501"),
        c.group_update(9, "Big", ["8501", *ghosts]),
        c.phone_status("8501", "RINGING"),
    ]
    response = c.send(*sent)
    assert response.status_code == 200, response.text[:500]
    answers = response.json()["results"]
    assert [a["outcome"] for a in answers] == ["applied", "applied", "applied"]
    reason = answers[1]["reason"]
    assert len(reason.encode()) > 64 * 1024
    assert reason.endswith(f"unknown login(s) not added: {', '.join(ghosts)}")
    assert [(g["id"], g["members"]) for g in groups(c)] == [("9", ["8501"])]
    stored = {e["eventId"]: e["reason"] for e in event_log(c)}
    assert stored[sent[1]["eventId"]] == reason


# ---- the event log has every event, with outcome and reason --------------------------------


def test_every_event_is_logged_with_its_outcome_and_reason(connector: Connector) -> None:
    c = connector
    sent = [
        c.user_update("8201"),
        c.user_status("8201", "LOGGED_IN"),
        c.phone_status("8201", "RINGING"),
        c.user_delete("nobody"),
        {"eventId": "broken", "type": "PHONE_STATUS", "login": "8201"},
    ]
    sent.append(dict(sent[2]))
    answers = c.results(*sent)
    assert [a["outcome"] for a in answers] == [
        "applied",
        "ignored",
        "applied",
        "rejected",
        "rejected",
        "duplicate",
    ]
    logged = list(reversed(event_log(c)))
    assert [(e["eventId"], e["outcome"], e["reason"]) for e in logged] == [
        (a["eventId"], a["outcome"], a["reason"]) for a in answers
    ]
    assert [(e["type"], e["login"], e["occurredAt"]) for e in logged] == [
        ("USER_UPDATE", "8201", sent[0]["occurredAt"]),
        ("USER_STATUS", "8201", sent[1]["occurredAt"]),
        ("PHONE_STATUS", "8201", sent[2]["occurredAt"]),
        ("USER_DELETE", "nobody", sent[3]["occurredAt"]),
        ("PHONE_STATUS", "8201", None),
        ("PHONE_STATUS", "8201", sent[2]["occurredAt"]),
    ]


# ---- concurrency ---------------------------------------------------------------------------

ACD_OF = {"LOGGED_IN": "CALLS_AND_MEDIA", "LOGGED_OUT": "LOGGED_OFF"}


def _run_threads(
    c: Connector, per_thread: list[list[list[dict[str, Any]]]]
) -> list[list[httpx.Response]]:
    """Each thread posts its batches in order, all threads starting together."""
    assert c.open_session().status_code == 200
    session_id = c.session_id or ""
    start = threading.Barrier(len(per_thread))
    answers: list[list[httpx.Response]] = [[] for _ in per_thread]

    def work(index: int) -> None:
        with httpx.Client(timeout=60) as http:
            start.wait()
            for batch in per_thread[index]:
                answers[index].append(
                    http.post(
                        f"{c.url}/starface/v1/events",
                        json={"events": batch},
                        headers={"X-Session-Id": session_id},
                    )
                )

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

    # the event log holds every event exactly once; replayed in commit order, each event is
    # applied exactly when it is not older than the newest applied event of its aspect
    logged = list(reversed(event_log(c, login="9901", limit=1000)))
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
            key=lambda e: datetime.fromisoformat(e["occurredAt"]),
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
    assert [r[0].status_code for r in responses] == [200] * copies
    answers = [r[0].json()["results"][0] for r in responses]
    assert sorted(a["outcome"] for a in answers) == ["applied"] + ["duplicate"] * (copies - 1)
    logged = event_log(c, login="9902", type="PHONE_STATUS")
    assert sorted(e["outcome"] for e in logged) == ["applied"] + ["duplicate"] * (copies - 1)
    assert get_user(c, "9902")["phoneStatus"] == "BUSY"


def test_event_dated_more_than_a_day_ahead_is_rejected_and_changes_nothing(
    connector: Connector,
) -> None:
    """A far-future occurredAt would make every later phone event stale for good."""
    connector.one(connector.user_update("7001"))
    now = datetime.now(UTC)
    ahead = connector.one(connector.phone_status("7001", "BUSY", at=now + timedelta(days=2)))
    assert ahead["outcome"] == "rejected"
    assert "more than 24 h ahead of the connector's clock" in ahead["reason"]
    user = connector.user("7001")
    assert user is not None and user["phoneStatus"] == "OFFLINE"
    near = connector.one(connector.phone_status("7001", "RINGING", at=now + timedelta(hours=1)))
    assert near["outcome"] == "applied"
    user = connector.user("7001")
    assert user is not None and user["phoneStatus"] == "RINGING"


@pytest.mark.parametrize("group_updates", ["ignored", "stale"])
def test_deleting_a_member_keeps_the_members_the_batch_never_named(
    connector: Connector, group_updates: str
) -> None:
    """A batch that loads a group but names only one of its members must not drop the rest."""
    connector.set_param("IgnoreGroupUpdate", "0")
    connector.set_param("IgnoreUserDeletes", "0")
    for login in ("8001", "8002", "8003"):
        assert connector.one(connector.user_update(login))["outcome"] == "applied"
    created = connector.group_update(8, "Hotline", ["8001", "8002", "8003"])
    assert connector.one(created)["outcome"] == "applied"
    if group_updates == "ignored":
        connector.set_param("IgnoreGroupUpdate", "1")
        group_event = connector.group_update(8, "Hotline", ["8002"])
        expected = "ignored"
    else:
        older = datetime.fromisoformat(created["occurredAt"]) - timedelta(seconds=30)
        group_event = connector.group_update(8, "Hotline", ["8002"], at=older)
        expected = "stale"

    results = connector.results(group_event, connector.user_delete("8002"))

    assert [r["outcome"] for r in results] == [expected, "applied"]
    groups = connector.admin("GET", "/api/v1/groups").json()
    assert [(g["id"], g["members"]) for g in groups] == [("8", ["8001", "8003"])]
    assert connector.user("8001")["groups"] == ["8"]


def test_a_chunked_body_is_limited_like_a_declared_one(connector: Connector) -> None:
    """Without Content-Length the body is counted as it arrives: over 8 MiB is 413."""
    assert connector.open_session().status_code == 200
    headers = {"X-Session-Id": connector.session_id or "", "content-type": "application/json"}
    url = f"{connector.url}/starface/v1/events"

    def oversized() -> Iterator[bytes]:
        yield b'{"events": ['
        for _ in range(9):
            yield b" " * (1024 * 1024)
        yield b"]}"

    response = connector.http.post(url, content=oversized(), headers=headers)
    assert response.status_code == 413, response.text
    assert "larger than" in response.json()["detail"]

    event = connector.user_update("9001")

    def small() -> Iterator[bytes]:
        yield b'{"events": ['
        yield json.dumps(event).encode()
        yield b"]}"

    response = connector.http.post(url, content=small(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["outcome"] == "applied"


# ---- the STARFACE module's vocabulary (issue 10, point 11) -----------------------------------


def test_phone_status_takes_the_module_states_and_the_log_shows_their_names(
    connector: Connector,
) -> None:
    c = connector
    assert c.one(c.user_update("4101"))["outcome"] == "applied"
    for state, status, before in (
        ("AVAILABLE", "IDLE", "OFFLINE"),
        ("RINGING", "RINGING", "IDLE"),
        ("ACTIVE", "BUSY", "RINGING"),
        ("UNAVAILABLE", "OFFLINE", "BUSY"),
    ):
        event = c.phone_status("4101", state)
        named = "" if state == status else f" (STARFACE {state})"
        expected = f"telephone status {before} -> {status}{named}"
        assert c.one(event) == result(event, "applied", expected)
        assert get_user(c, "4101")["phoneStatus"] == status
        (logged,) = [e for e in event_log(c, login="4101") if e["eventId"] == event["eventId"]]
        assert logged["reason"] == expected and logged["type"] == "PHONE_STATUS"
    bad = c.phone_status("4101", "SLEEPING")
    assert c.one(bad)["outcome"] == "rejected"


def test_queue_pause_pauses_the_agent_and_only_its_own_pause_ends_with_it(
    connector: Connector,
) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    for login in ("4201", "4202"):
        c.one(c.user_update(login))
        c.one(c.user_status(login, "LOGGED_IN"))
    pause = c.phone_status("4201", "QUEUE_PAUSE")
    assert c.one(pause) == result(
        pause,
        "applied",
        "telephone status OFFLINE -> QUEUE_PAUSE; "
        f"ACD status CALLS_AND_MEDIA -> PAUSE (QUEUE_PAUSE; {P}IgnoreUserStatus=0)",
    )
    assert (get_user(c, "4201")["acdStatus"], get_user(c, "4201")["phoneStatus"]) == (
        "PAUSE",
        "QUEUE_PAUSE",
    )
    back = c.phone_status("4201", "AVAILABLE")
    assert c.one(back)["reason"].endswith(
        f"ACD status PAUSE -> CALLS_AND_MEDIA (end of QUEUE_PAUSE, which set the pause; "
        f"{P}IgnoreUserStatus=0)"
    )
    assert get_user(c, "4201")["acdStatus"] == "CALLS_AND_MEDIA"
    # A pause set in jtel stays when the queue pause ends.
    response = c.admin("PUT", "/api/v1/users/4202/acd-status", json={"acdStatus": "PAUSE"})
    assert response.status_code == 200, response.text
    c.one(c.phone_status("4202", "QUEUE_PAUSE"))
    kept = c.one(c.phone_status("4202", "AVAILABLE"))
    assert kept["reason"].endswith("ACD status PAUSE kept: already paused in jtel") or kept[
        "reason"
    ].endswith("ACD status PAUSE kept: the pause was set in jtel")
    assert get_user(c, "4202")["acdStatus"] == "PAUSE"


def test_dnd_status_is_stored_shown_and_pauses_only_with_its_parameter(
    connector: Connector,
) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    c.one(c.user_update("4301"))
    c.one(c.user_status("4301", "LOGGED_IN"))
    assert get_user(c, "4301")["dnd"] is False
    on = c.next_event("DND_STATUS", login="4301", enabled=True)
    assert c.one(on) == result(
        on, "applied", f"do-not-disturb on; ACD status not changed ({P}DndPausesAgent=0)"
    )
    assert (get_user(c, "4301")["dnd"], get_user(c, "4301")["acdStatus"]) == (
        True,
        "CALLS_AND_MEDIA",
    )
    assert [e["type"] for e in event_log(c, type="DND_STATUS")] == ["DND_STATUS"]
    c.set_param("DndPausesAgent", "1")
    c.one(c.next_event("DND_STATUS", login="4301", enabled=False))
    c.one(c.next_event("DND_STATUS", login="4301", enabled=True))
    assert get_user(c, "4301")["acdStatus"] == "PAUSE"
    c.one(c.next_event("DND_STATUS", login="4301", enabled=False))
    assert (get_user(c, "4301")["dnd"], get_user(c, "4301")["acdStatus"]) == (
        False,
        "CALLS_AND_MEDIA",
    )


def test_a_resync_is_applied_with_no_change_and_a_newer_event_still_wins(
    connector: Connector,
) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    c.one(c.user_update("4401"))
    c.one(c.user_status("4401", "LOGGED_IN"))
    busy = c.phone_status("4401", "BUSY")
    c.one(busy)
    same = {**c.phone_status("4401", "ACTIVE"), "resync": True}
    assert c.one(same) == result(
        same, "applied", "resync; no change: already BUSY (STARFACE ACTIVE)"
    )
    login = {**c.user_status("4401", "LOGGED_IN"), "resync": True}
    assert c.one(login)["reason"].startswith("resync; no change: already CALLS_AND_MEDIA")
    newer = c.phone_status("4401", "IDLE")
    c.one(newer)
    late = {**c.phone_status("4401", "BUSY", at=at(0)), "resync": True}
    assert c.one(late)["outcome"] == "stale"
    assert get_user(c, "4401")["phoneStatus"] == "IDLE"


# ---- the contract in /openapi.json (issue 10, point 12) --------------------------------------


def test_the_starface_contract_in_openapi_is_typed_and_the_running_app_keeps_to_it(
    connector: Connector,
) -> None:
    from openapi_core import OpenAPI

    from tests.conftest_starface import Exchange, _SpecRequest, _SpecResponse

    c = connector
    document = c.http.get(f"{c.url}/openapi.json").json()
    spec = OpenAPI.from_dict(document)

    def exchange(method: str, path: str, body: Any | None, headers: dict[str, str]) -> Exchange:
        response = c.http.request(method, f"{c.url}{path}", json=body, headers=headers)
        return Exchange(
            method,
            path,
            "",
            {"content-type": "application/json", **headers},
            b"" if body is None else json.dumps(body).encode(),
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )

    def check(ex: Exchange, *, request: bool = True) -> None:
        if request:
            spec.validate_request(_SpecRequest(ex))
        spec.validate_response(_SpecRequest(ex), _SpecResponse(ex))

    session = exchange("POST", "/starface/v1/session", {"login": "starface-module",
                       "password": "module-secret-for-tests"}, {})  # fmt: skip
    check(session)
    sid = {"X-Session-Id": json.loads(session.response_body)["sessionId"]}
    every_type = [
        c.user_update("4501"),
        c.group_update(45, "Vertrieb", ["4501"]),
        c.user_status("4501", "LOGGED_IN"),
        c.phone_status("4501", "AVAILABLE"),
        {**c.phone_status("4501", "QUEUE_PAUSE"), "resync": True},
        c.next_event("DND_STATUS", login="4501", enabled=True),
        c.user_delete("4501"),
    ]
    sent = exchange("POST", "/starface/v1/events", {"events": every_type}, sid)
    check(sent)
    outcomes = [r["outcome"] for r in json.loads(sent.response_body)["results"]]
    assert outcomes[0] == "applied" and len(outcomes) == len(every_type)
    empty = exchange("POST", "/starface/v1/events", {"events": []}, sid)
    assert empty.status == 422
    check(empty, request=False)  # the request breaks the schema; the 422 is as documented
    check(exchange("POST", "/starface/v1/events", {"events": every_type[:1]}, {}))  # 401
    check(exchange("DELETE", "/starface/v1/session", None, sid))
    # The schema is typed: an event the contract does not know fails it.
    wrong = {**c.phone_status("4501", "SLEEPING")}
    bad = Exchange("POST", "/starface/v1/events", "", {"content-type": "application/json", **sid},
                   json.dumps({"events": [wrong]}).encode())  # fmt: skip
    with pytest.raises(Exception, match=r"SLEEPING|not valid"):
        spec.validate_request(_SpecRequest(bad))
    events_schema = document["components"]["schemas"]["EventBatch"]["properties"]["events"]
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in events_schema["items"]["oneOf"]}
    assert kinds == {
        "WireUserUpdate",
        "WireUserDelete",
        "WireGroupUpdate",
        "WireUserStatus",
        "WirePhoneStatus",
        "WireDndStatus",
    }


def test_the_module_guide_example_is_what_the_connector_answers(connector: Connector) -> None:
    """docs/starface-module.md's full exchange, sent as printed, answers as printed."""
    guide = (REPO_ROOT / "docs" / "starface-module.md").read_text(encoding="utf-8")
    request = guide.split("POST /starface/v1/events HTTP/1.1", 1)[1]
    body = json.loads(request[request.index("{") : request.index("\n```")])
    answer = request.split("HTTP/1.1 200 OK", 1)[1]
    expected = json.loads(answer[answer.index("{") : answer.index("\n```")].replace("…", P))
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    assert c.results(*body["events"]) == expected["results"]


def test_a_batch_held_up_by_the_write_lock_is_never_overtaken(
    connector: Connector, engine: Engine
) -> None:
    """Another writer holds the database's write lock; batch A arrives, then batch B with
    newer events for the same agents. When the lock is free, A is applied before B: no
    event of A comes back stale for being overtaken (first come, first served)."""
    c = connector
    agents = [f"68{n:02d}" for n in range(20)]
    assert {r["outcome"] for r in c.results(*(c.user_update(a) for a in agents))} == {"applied"}
    first = [c.phone_status(a, "RINGING") for a in agents]
    later = [c.phone_status(a, "BUSY") for a in agents]
    answers: dict[str, httpx.Response] = {}

    def send(name: str, events: list[dict[str, Any]]) -> None:
        with httpx.Client(timeout=60) as http:
            answers[name] = Connector(c.url, http, session_id=c.session_id).send(*events)

    holder = engine.connect()
    transaction = holder.begin()
    holder.execute(update(BatchLockRow).values(batches=BatchLockRow.batches + 1))
    senders = [threading.Thread(target=send, args=("A", first))]
    try:
        senders[0].start()
        time.sleep(0.3)  # A is with the writer now, waiting for the lock
        senders.append(threading.Thread(target=send, args=("B", later)))
        senders[1].start()
        time.sleep(0.3)  # and B is queued behind it
    finally:
        transaction.rollback()
        holder.close()
    for sender in senders:
        sender.join(60)
    for name in ("A", "B"):
        assert answers[name].status_code == 200, answers[name].text
        assert {r["outcome"] for r in answers[name].json()["results"]} == {"applied"}, name
    assert {get_user(c, a)["phoneStatus"] for a in agents} == {"BUSY"}
