"""The jtel-side API (/api/v1) through real HTTP: logins, rights, users, groups, parameters,
the event log and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update

from starface_connector.storage.tables import ParameterRow
from tests.conftest import ADMIN_PASSWORD, Connector
from tests.integration.helpers import P, can_log_in, event_log, get_user, groups, users

# every endpoint a plain agent must not use, with a body where it needs one
ADMIN_ONLY: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/users", None),
    ("GET", "/api/v1/users/1001", None),
    ("PUT", "/api/v1/users/1001/acd-status", {"acdStatus": "PAUSE"}),
    ("PUT", "/api/v1/users/1001/password", {"password": "a-new-password"}),
    ("GET", "/api/v1/groups", None),
    ("GET", "/api/v1/parameters", None),
    ("PUT", f"/api/v1/parameters/{P}IgnoreUserStatus", {"value": "0"}),
    ("GET", "/api/v1/parameters/changes", None),
    ("GET", "/api/v1/events", None),
]
FORBIDDEN = {"detail": "administrator rights required"}


def _manual_acd_changes(c: Connector, login: str) -> list[dict[str, Any]]:
    """Event log entries of ACD status changes made through the API, newest first."""
    entries = event_log(c, login=login, type="ACD_STATUS_SET")
    assert {e["type"] for e in entries} <= {"ACD_STATUS_SET"}
    return entries


def _user_token(c: Connector, login: str, *, admin: bool = False) -> str:
    """Create ``login`` through a USER_UPDATE (password = UID) and log in as that user."""
    if admin:
        c.set_param("IgnoreUserSecurity", "0")
    assert c.one(c.user_update(login, admin=admin))["outcome"] == "applied"
    assert get_user(c, login)["admin"] is admin
    return c.token(login, login)


# ---- logins and rights ---------------------------------------------------------------------


def test_sysadmin_and_users_log_in_and_wrong_credentials_are_401(connector: Connector) -> None:
    c = connector
    sysadmin = c.token("sysadmin", ADMIN_PASSWORD)
    me = c.as_token(sysadmin, "GET", "/api/v1/me")
    assert me.status_code == 200, me.text
    assert (me.json()["usersUid"], me.json()["admin"]) == ("sysadmin", True)
    assert c.one(c.user_update("1001"))["outcome"] == "applied"
    user = c.token("1001", "1001")
    assert user != sysadmin
    me = c.as_token(user, "GET", "/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json() == {**get_user(c, "1001"), "initialPassword": True}
    for username, password in [
        ("sysadmin", "wrong"),
        ("sysadmin", ""),
        ("SYSADMIN", ADMIN_PASSWORD),
        ("1001", "wrong"),
        ("1001", ADMIN_PASSWORD),
        ("1002", "1002"),  # no such user
        ("starface-module", "module-secret-for-tests"),  # the module account is not a jtel login
    ]:
        response = c.login(username, password)
        assert response.status_code == 401, (username, response.text)
        assert response.json() == {"detail": "wrong username or password"}
    for body in (
        {"username": "sysadmin"},
        {"username": "sysadmin", "password": 1},
        {"username": "sys\x00admin", "password": ADMIN_PASSWORD},
        {},
    ):
        assert c.http.post(f"{c.url}/api/v1/auth/login", json=body).status_code == 422


def test_requests_without_a_valid_token_are_401(connector: Connector) -> None:
    c = connector
    endpoints = [*ADMIN_ONLY, ("GET", "/api/v1/me", None)]
    endpoints.append(("PUT", "/api/v1/me/acd-status", {"acdStatus": "PAUSE"}))
    for method, path, body in endpoints:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
            response = c.http.request(method, f"{c.url}{path}", json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
    assert event_log(c) == []


def test_a_plain_agent_may_only_read_itself_and_set_its_own_acd_status(
    connector: Connector,
) -> None:
    c = connector
    token = _user_token(c, "1001")
    assert c.one(c.user_update("1002"))["outcome"] == "applied"
    for method, path, body in ADMIN_ONLY:
        response = c.as_token(token, method, path, json=body)
        assert (response.status_code, response.json()) == (403, FORBIDDEN), (method, path)
    # nothing of the above happened
    assert (get_user(c, "1001")["acdStatus"], can_log_in(c, "1001", "1001")) == (
        "LOGGED_OFF",
        True,
    )
    assert [p["value"] for p in c.admin("GET", "/api/v1/parameters").json()] == [
        "1",
        "1",
        "1",
        "1",
        "300",
        "1",
        "0",
    ]
    me = c.as_token(token, "GET", "/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json() == {**get_user(c, "1001"), "initialPassword": True}
    for status in ("PAUSE", "CALLS_AND_MEDIA", "LOGGED_OFF", "PAUSE"):
        response = c.as_token(token, "PUT", "/api/v1/me/acd-status", json={"acdStatus": status})
        assert response.status_code == 200, response.text
        assert response.json()["acdStatus"] == status
        assert get_user(c, "1001")["acdStatus"] == status
    assert get_user(c, "1002")["acdStatus"] == "LOGGED_OFF"
    bad = c.as_token(token, "PUT", "/api/v1/me/acd-status", json={"acdStatus": "AWAY"})
    assert bad.status_code == 422, bad.text
    logged = _manual_acd_changes(c, "1001")
    assert [(e["outcome"], e["reason"]) for e in logged] == [
        ("applied", "ACD status LOGGED_OFF -> PAUSE set by 1001"),
        ("applied", "ACD status CALLS_AND_MEDIA -> LOGGED_OFF set by 1001"),
        ("applied", "ACD status PAUSE -> CALLS_AND_MEDIA set by 1001"),
        ("applied", "ACD status LOGGED_OFF -> PAUSE set by 1001"),
    ]


def test_an_admin_flag_from_starface_gives_and_takes_rights_at_once(connector: Connector) -> None:
    c = connector
    token = _user_token(c, "1101", admin=True)  # IgnoreUserSecurity=0 from here on
    assert c.as_token(token, "GET", "/api/v1/users").status_code == 200
    assert c.one(c.user_update("1101", admin=False))["outcome"] == "applied"
    # the token was issued while the user was an admin; the revocation counts at once
    response = c.as_token(token, "GET", "/api/v1/users")
    assert (response.status_code, response.json()) == (403, FORBIDDEN)
    assert c.as_token(token, "GET", "/api/v1/me").status_code == 200
    assert c.one(c.user_update("1101", admin=True))["outcome"] == "applied"
    assert c.as_token(token, "GET", "/api/v1/users").status_code == 200
    # an admin user may change parameters; then STARFACE can no longer take the flag away
    response = c.as_token(
        token, "PUT", f"/api/v1/parameters/{P}IgnoreUserSecurity", json={"value": "1"}
    )
    assert response.status_code == 200, response.text
    revoke = c.user_update("1101", admin=False)
    assert c.one(revoke)["reason"] == f"no change; admin flag not changed ({P}IgnoreUserSecurity=1)"
    assert c.as_token(token, "GET", "/api/v1/users").status_code == 200


def test_a_deleted_users_token_is_401(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserDeletes", "0")
    token = _user_token(c, "1201")
    assert c.as_token(token, "GET", "/api/v1/me").status_code == 200
    assert c.one(c.user_delete("1201"))["outcome"] == "applied"
    for method, path, body in (
        ("GET", "/api/v1/me", None),
        ("PUT", "/api/v1/me/acd-status", {"acdStatus": "PAUSE"}),
    ):
        response = c.as_token(token, method, path, json=body)
        assert response.status_code == 401, response.text
    assert not can_log_in(c, "1201", "1201")


# ---- users ---------------------------------------------------------------------------------


def test_users_list_searches_pages_and_counts(connector: Connector) -> None:
    c = connector
    people = [
        ("1001", "Anna", "Müller", "anna@example.com"),
        ("1002", "Bernd", "Schmidt", "bernd@corp.example"),
        ("1003", "Clara", "Schmitz", "clara@example.com"),
        ("2001", "Dieter", "Meyer", "dm@corp.example"),
        ("2002", "Eva", "Schulz", "eva@example.com"),
        ("3001", "Ömer", "Özdemir", "oe_1@example.com"),
        ("3002", "Ute", "Öxle", "oex1@example.com"),
    ]
    events = [
        c.user_update(uid, firstName=first, familyName=last, email=email)
        for uid, first, last, email in people
    ]
    assert {r["outcome"] for r in c.results(*events)} == {"applied"}

    def uids(**query: Any) -> tuple[list[str], int]:
        listing = users(c, **query)
        return [u["usersUid"] for u in listing["items"]], listing["total"]

    everyone = ["1001", "1002", "1003", "2001", "2002", "3001", "3002"]
    assert uids() == (everyone, 7)
    assert uids(search="schm") == (["1002", "1003"], 2)  # last names, case-insensitive
    assert uids(search="SCHM") == (["1002", "1003"], 2)
    assert uids(search="corp.example") == (["1002", "2001"], 2)  # email
    assert uids(search="200") == (["2001", "2002"], 2)  # UsersUID
    assert uids(search="eva") == (["2002"], 1)  # first name
    assert uids(search="nobody") == ([], 0)
    assert uids(search="özdemir") == (["3001"], 1)  # case folding beyond ASCII
    assert uids(search="ÖZDEMIR") == (["3001"], 1)
    assert uids(search="_1") == (["3001"], 1)  # '_' and '%' are literal, not wildcards
    assert uids(search="%") == ([], 0)
    assert uids(limit=2) == (everyone[:2], 7)
    assert uids(limit=2, offset=2) == (everyone[2:4], 7)
    assert uids(limit=2, offset=6) == (["3002"], 7)
    assert uids(limit=2, offset=7) == ([], 7)
    assert uids(search="schm", limit=1, offset=1) == (["1003"], 2)
    item = users(c, search="1001")["items"][0]
    assert item == get_user(c, "1001")
    for query in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "x"}):
        response = c.admin("GET", "/api/v1/users", params=query)
        assert response.status_code == 422, (query, response.text)


def test_get_user_answers_the_whole_record_or_404(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreGroupUpdate", "0")
    event = c.user_update(
        "1001",
        firstName="Anna",
        familyName="Müller",
        email="anna@example.com",
        language="de",
        phoneNumbers=["+49 30 1001"],
    )
    assert c.one(event)["outcome"] == "applied"
    assert c.one(c.group_update("g2", "B", ["1001"]))["outcome"] == "applied"
    assert c.one(c.group_update("g1", "A", ["1001"]))["outcome"] == "applied"
    assert c.one(c.phone_status("1001", "RINGING"))["outcome"] == "applied"
    user = get_user(c, "1001")
    assert set(user) == {
        "usersUid",
        "firstName",
        "lastName",
        "email",
        "language",
        "admin",
        "phoneNumbers",
        "acdStatus",
        "phoneStatus",
        "dnd",
        "groups",
        "createdAt",
        "updatedAt",
    }
    assert {k: user[k] for k in user if k not in ("createdAt", "updatedAt")} == {
        "usersUid": "1001",
        "firstName": "Anna",
        "lastName": "Müller",
        "email": "anna@example.com",
        "language": "de",
        "admin": False,
        "phoneNumbers": ["+49 30 1001"],
        "acdStatus": "LOGGED_OFF",
        "phoneStatus": "RINGING",
        "dnd": False,
        "groups": ["g1", "g2"],
    }
    assert user["createdAt"] <= user["updatedAt"]
    for missing in ("1002", "100", "10011"):
        response = c.admin("GET", f"/api/v1/users/{missing}")
        assert (response.status_code, response.json()) == (404, {"detail": f"no user {missing}"})


def test_admin_sets_acd_status_and_it_is_logged(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("1001"))["outcome"] == "applied"
    for old, new in (("LOGGED_OFF", "CALLS_AND_MEDIA"), ("CALLS_AND_MEDIA", "PAUSE")):
        response = c.admin("PUT", "/api/v1/users/1001/acd-status", json={"acdStatus": new})
        assert response.status_code == 200, response.text
        assert response.json() == get_user(c, "1001")
        assert response.json()["acdStatus"] == new
        (latest, *_) = _manual_acd_changes(c, "1001")
        assert (latest["source"], latest["outcome"], latest["reason"]) == (
            "api",
            "applied",
            f"ACD status {old} -> {new} set by sysadmin",
        )
    for body in ({"acdStatus": "AWAY"}, {"acdStatus": None}, {}):
        response = c.admin("PUT", "/api/v1/users/1001/acd-status", json=body)
        assert response.status_code == 422, (body, response.text)
    missing = c.admin("PUT", "/api/v1/users/1002/acd-status", json={"acdStatus": "PAUSE"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "no user 1002"})
    assert get_user(c, "1001")["acdStatus"] == "PAUSE"
    assert len(_manual_acd_changes(c, "1001")) == 2


def test_admin_sets_a_password(connector: Connector) -> None:
    c = connector
    c.set_param("UserPasswordSetUID", "0")
    assert c.one(c.user_update("1001"))["outcome"] == "applied"
    assert not can_log_in(c, "1001", "1001")
    response = c.admin("PUT", "/api/v1/users/1001/password", json={"password": "s3cret-pass"})
    assert (response.status_code, response.content) == (204, b"")
    assert can_log_in(c, "1001", "s3cret-pass")
    response = c.admin("PUT", "/api/v1/users/1001/password", json={"password": "other-pass"})
    assert response.status_code == 204
    assert not can_log_in(c, "1001", "s3cret-pass")
    assert can_log_in(c, "1001", "other-pass")
    for body in ({"password": "short"}, {"password": 12345678}, {}):
        response = c.admin("PUT", "/api/v1/users/1001/password", json=body)
        assert response.status_code == 422, (body, response.text)
    missing = c.admin("PUT", "/api/v1/users/1002/password", json={"password": "s3cret-pass"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "no user 1002"})
    assert can_log_in(c, "1001", "other-pass")


def test_a_password_reset_ends_the_users_tokens(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("1001"))["outcome"] == "applied"
    old_token = c.token("1001", "1001")
    assert c.as_token(old_token, "GET", "/api/v1/me").status_code == 200
    response = c.admin("PUT", "/api/v1/users/1001/password", json={"password": "n3w-pass!"})
    assert response.status_code == 204
    assert c.as_token(old_token, "GET", "/api/v1/me").status_code == 401
    new_token = c.token("1001", "n3w-pass!")
    assert c.as_token(new_token, "GET", "/api/v1/me").json()["usersUid"] == "1001"
    assert c.admin("GET", "/api/v1/users/1001").status_code == 200  # other tokens live on


# ---- groups --------------------------------------------------------------------------------


def test_groups_list_names_members_and_follows_deletions(connector: Connector) -> None:
    c = connector
    assert groups(c) == []
    c.set_param("IgnoreGroupUpdate", "0")
    c.set_param("IgnoreUserDeletes", "0")
    for login in ("1003", "1001", "1002"):
        assert c.one(c.user_update(login))["outcome"] == "applied"
    answers = c.results(
        c.group_update("sales", "Sales", ["1003", "1001"]),
        c.group_update(7, "Support", ["1002", "1001"]),
        c.group_update("empty", "Nobody yet", []),
    )
    assert {a["outcome"] for a in answers} == {"applied"}
    listing = groups(c)
    assert [(g["id"], g["name"], g["members"]) for g in listing] == [
        ("7", "Support", ["1001", "1002"]),
        ("empty", "Nobody yet", []),
        ("sales", "Sales", ["1001", "1003"]),
    ]
    assert all(isinstance(g["updatedAt"], str) for g in listing)
    assert c.one(c.user_delete("1001"))["outcome"] == "applied"
    assert [(g["id"], g["members"]) for g in groups(c)] == [
        ("7", ["1002"]),
        ("empty", []),
        ("sales", ["1003"]),
    ]


# ---- parameters ----------------------------------------------------------------------------

STANDARD = {
    f"{P}IgnoreGroupUpdate": "1",
    f"{P}IgnoreUserDeletes": "1",
    f"{P}IgnoreUserSecurity": "1",
    f"{P}IgnoreUserStatus": "1",
    f"{P}SessionExpireSeconds": "300",
    f"{P}UserPasswordSetUID": "1",
    f"{P}DndPausesAgent": "0",
}


def _parameters(c: Connector) -> dict[str, dict[str, Any]]:
    response = c.admin("GET", "/api/v1/parameters")
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()}


def test_parameters_list_values_as_strings_with_defaults_and_descriptions(
    connector: Connector,
) -> None:
    c = connector
    listed = c.admin("GET", "/api/v1/parameters").json()
    assert [p["name"] for p in listed] == list(STANDARD)
    for p in listed:
        assert set(p) == {"name", "value", "default", "description"}
        assert p["value"] == p["default"] == STANDARD[p["name"]]
        assert isinstance(p["description"], str) and p["description"]
    c.set_param("IgnoreUserStatus", "0")
    c.set_param("SessionExpireSeconds", "86400")
    after = _parameters(c)
    assert {n: (p["value"], p["default"]) for n, p in after.items()} == {
        **{n: (v, v) for n, v in STANDARD.items()},
        f"{P}IgnoreUserStatus": ("0", "1"),
        f"{P}SessionExpireSeconds": ("86400", "300"),
    }


def test_parameter_values_are_validated(connector: Connector) -> None:
    c = connector
    flag, seconds = f"{P}IgnoreGroupUpdate", f"{P}SessionExpireSeconds"
    attempts: list[tuple[str, Any, int, str]] = [
        (flag, "0", 200, "0"),
        (flag, "1", 200, "1"),
        (flag, "2", 422, "1"),
        (flag, "", 422, "1"),
        (flag, "true", 422, "1"),
        (flag, "yes", 422, "1"),
        (flag, "-1", 422, "1"),
        (flag, 0, 422, "1"),  # a JSON number is not the string jtel keeps
        (flag, None, 422, "1"),
        (seconds, "10", 200, "10"),
        (seconds, "86400", 200, "86400"),
        (seconds, "9", 422, "86400"),
        (seconds, "86401", 422, "86400"),
        (seconds, "0", 422, "86400"),
        (seconds, "-300", 422, "86400"),
        (seconds, "10.5", 422, "86400"),
        (seconds, "5m", 422, "86400"),
        (seconds, "", 422, "86400"),
        (seconds, 300, 422, "86400"),
        (seconds, "300", 200, "300"),
    ]
    for name, value, status, stored in attempts:
        response = c.admin("PUT", f"/api/v1/parameters/{name}", json={"value": value})
        assert response.status_code == status, (name, value, response.text)
        listed = _parameters(c)[name]
        assert listed["value"] == stored, (name, value)
        if status == 200:
            assert response.json() == listed
    response = c.admin("PUT", f"/api/v1/parameters/{flag}", json={})
    assert response.status_code == 422, response.text
    for unknown in (f"{P}IgnoreEverything", "IgnoreUserStatus", f"{P}ignoreuserstatus"):
        response = c.admin("PUT", f"/api/v1/parameters/{unknown}", json={"value": "0"})
        assert response.status_code == 404, (unknown, response.text)
    assert {n: p["value"] for n, p in _parameters(c).items()} == STANDARD


def test_parameter_changes_are_logged_with_actor_old_and_new(connector: Connector) -> None:
    c = connector
    token = _user_token(c, "1001", admin=True)  # sysadmin: IgnoreUserSecurity 1 -> 0
    c.set_param("SessionExpireSeconds", "600")
    response = c.as_token(
        token, "PUT", f"/api/v1/parameters/{P}SessionExpireSeconds", json={"value": "60"}
    )
    assert response.status_code == 200, response.text
    refused = c.as_token(
        token, "PUT", f"/api/v1/parameters/{P}SessionExpireSeconds", json={"value": "5"}
    )
    assert refused.status_code == 422
    response = c.admin("GET", "/api/v1/parameters/changes")
    assert response.status_code == 200, response.text
    changes = response.json()
    assert [(e["name"], e["actor"], e["oldValue"], e["newValue"]) for e in changes] == [
        (f"{P}SessionExpireSeconds", "1001", "600", "60"),
        (f"{P}SessionExpireSeconds", "sysadmin", "300", "600"),
        (f"{P}IgnoreUserSecurity", "sysadmin", "1", "0"),
    ]
    assert all(isinstance(e["changedAt"], str) for e in changes)
    limited = c.admin("GET", "/api/v1/parameters/changes", params={"limit": 1}).json()
    assert [e["newValue"] for e in limited] == ["60"]


# ---- the event log -------------------------------------------------------------------------


def test_events_log_filters_by_login_type_outcome_and_limit(connector: Connector) -> None:
    c = connector
    sent = [
        c.user_update("1001"),  # applied
        c.user_update("1002"),  # applied
        c.user_status("1001", "LOGGED_IN"),  # ignored
        c.phone_status("1001", "BUSY"),  # applied
        c.phone_status("1002", "IDLE"),  # applied
        c.phone_status("1003", "IDLE"),  # rejected: unknown user
        c.user_delete("1002"),  # ignored
    ]
    sent.append(dict(sent[3]))  # duplicate
    answers = c.results(*sent)
    assert [a["outcome"] for a in answers] == [
        "applied",
        "applied",
        "ignored",
        "applied",
        "applied",
        "rejected",
        "ignored",
        "duplicate",
    ]
    ids = [e["eventId"] for e in sent]

    def logged(**filters: Any) -> list[str]:
        return [e["eventId"] for e in event_log(c, **filters)]

    newest_first = list(reversed(ids))
    assert logged() == newest_first
    assert logged(login="1001") == [ids[7], ids[3], ids[2], ids[0]]
    assert logged(login="1003") == [ids[5]]
    assert logged(login="nobody") == []
    assert logged(type="PHONE_STATUS") == [ids[7], ids[5], ids[4], ids[3]]
    assert logged(outcome="ignored") == [ids[6], ids[2]]
    assert logged(outcome="duplicate") == [ids[7]]
    assert logged(login="1001", type="PHONE_STATUS", outcome="applied") == [ids[3]]
    assert logged(limit=3) == newest_first[:3]
    assert logged(login="1002", limit=1) == [ids[6]]
    entry = event_log(c, outcome="rejected")[0]
    assert (entry["type"], entry["login"], entry["reason"], entry["source"]) == (
        "PHONE_STATUS",
        "1003",
        "rejected: unknown user 1003",
        "starface",
    )
    assert entry["occurredAt"] == sent[5]["occurredAt"]
    for query in ({"type": "NOPE"}, {"outcome": "fine"}, {"limit": 0}, {"limit": 1001}):
        response = c.admin("GET", "/api/v1/events", params=query)
        assert response.status_code == 422, (query, response.text)


# ---- OpenAPI -------------------------------------------------------------------------------


def test_openapi_document_is_served_and_describes_the_contract(connector: Connector) -> None:
    c = connector
    response = c.http.get(f"{c.url}/openapi.json")
    assert response.status_code == 200, response.text
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path, methods in {
        "/starface/v1/session": {"post", "delete"},
        "/starface/v1/events": {"post"},
        "/api/v1/auth/login": {"post"},
        "/api/v1/me": {"get"},
        "/api/v1/me/acd-status": {"put"},
        "/api/v1/users": {"get"},
        "/api/v1/users/{users_uid}": {"get"},
        "/api/v1/users/{users_uid}/acd-status": {"put"},
        "/api/v1/users/{users_uid}/password": {"put"},
        "/api/v1/groups": {"get"},
        "/api/v1/parameters": {"get"},
        "/api/v1/parameters/{name}": {"put"},
        "/api/v1/parameters/changes": {"get"},
        "/api/v1/events": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    schemas = spec["components"]["schemas"]
    assert set(schemas["SessionOut"]["properties"]) == {"sessionId", "expiresInSeconds"}
    assert set(schemas["EventResultOut"]["properties"]) == {"eventId", "outcome", "reason"}
    assert set(schemas["ParameterOut"]["properties"]) == {"name", "value", "default", "description"}


def test_a_body_that_is_not_json_says_where_it_breaks(connector: Connector) -> None:
    c = connector
    assert c.open_session().status_code == 200
    response = c.http.post(
        f"{c.url}/starface/v1/events",
        content=b'{"events": [{"eventId": "e-1",,}]}',
        headers={"X-Session-Id": c.session_id or "", "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == (
        "invalid request: invalid JSON at character 30 (Expecting property name enclosed in "
        "double quotes); nothing was applied"
    )


def test_a_bad_query_is_refused_without_claiming_a_write(connector: Connector) -> None:
    response = connector.admin("GET", "/api/v1/users", params={"limit": "0"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("invalid request: limit: Input should be greater than or equal to 1")
    assert "nothing was applied" not in detail


def test_a_corrupt_stored_parameter_is_reported_on_readyz_and_its_standard_used(
    connector: Connector, engine: Engine
) -> None:
    c = connector
    ready = c.http.get(f"{c.url}/readyz")
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "database": "ok", "schema": "current", "parameterProblems": []},
    )
    with engine.begin() as connection:
        connection.execute(
            update(ParameterRow)
            .where(ParameterRow.name == P + "IgnoreUserStatus")
            .values(value="true")
        )
    problems = c.http.get(f"{c.url}/readyz").json()["parameterProblems"]
    assert problems == [
        f"{P}IgnoreUserStatus: the stored value 'true' is invalid ({P}IgnoreUserStatus must be 0 "
        "or 1, not 'true'); the standard value 1 is used"
    ]
    assert c.one(c.user_update("4001"))["outcome"] == "applied"
    status = c.one(c.user_status("4001", "LOGGED_IN"))
    assert (status["outcome"], status["reason"]) == ("ignored", f"ignored: {P}IgnoreUserStatus=1")


def test_a_parameter_change_is_in_the_event_log_too(connector: Connector) -> None:
    c = connector
    c.set_param("IgnoreUserStatus", "0")
    c.set_param("IgnoreUserStatus", "0")  # no change: nothing logged
    (entry,) = event_log(c, type="PARAMETER_SET")
    assert (entry["source"], entry["login"], entry["outcome"], entry["reason"]) == (
        "api",
        None,
        "applied",
        f"{P}IgnoreUserStatus 1 -> 0 set by sysadmin",
    )
