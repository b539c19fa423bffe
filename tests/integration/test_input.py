"""Bad input never gives a 500: every field of both APIs and the console, through real HTTP,
on SQLite, PostgreSQL and MariaDB (the ``connector`` fixture runs each test on each).

Lone surrogates, NUL and over-long text are refused with 4xx and a readable message (inside
an event batch, that event alone is rejected); paging is bounded; a Login-ID every URL can
reach is the only one taken in, from events and from the import; search finds the same on
every database.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from starface_connector.bootstrap import Container
from starface_connector.service.accounts import CONSOLE
from starface_connector.storage.tables import ParameterRow
from starface_connector.web.session import LOGIN_CSRF_COOKIE, SESSION_COOKIE, csrf_for
from tests.conftest import ADMIN_PASSWORD, MODULE_LOGIN, MODULE_PASSWORD, Connector
from tests.integration.helpers import P, event_log, get_user, users

MAX_BIGINT = 2**63 - 1
SURROGATE = "\ud800"
NUL = "\x00"
SURROGATE_TEXT = "must not contain an unpaired surrogate (not valid Unicode text)"
NUL_TEXT = "must not contain the NUL character"


def send_json(
    c: Connector, method: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    """Send ``body`` as JSON as any client may: a lone surrogate as the escape ``\\ud800``
    (which JSON allows and httpx's own encoder would refuse to send)."""
    return c.http.request(
        method,
        f"{c.url}{path}",
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )


def admin_headers(c: Connector) -> dict[str, str]:
    if c.admin_token is None:
        c.admin_token = c.token("sysadmin", ADMIN_PASSWORD)
    return {"Authorization": f"Bearer {c.admin_token}"}


def assert_refused(response: httpx.Response, field: str, problem: str, status: int = 422) -> None:
    """A 4xx in the one error shape, naming the field and what is wrong with it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"detail", "errors"}, body
    assert isinstance(body["detail"], str) and f"{field}: {problem}" in body["detail"], body
    for place in body.get("errors") or []:
        assert isinstance(place["msg"], str) and place["msg"], body


def stored_parameters(c: Connector) -> dict[str, str]:
    return {p["name"]: p["value"] for p in c.admin("GET", "/api/v1/parameters").json()}


# ---- issue 8, defect 4: a lone surrogate in a login or password ------------------------------


@pytest.mark.parametrize("field", ["login", "password"])
@pytest.mark.parametrize("bad", [SURROGATE, f"abc{SURROGATE}def", NUL])
def test_a_lone_surrogate_or_nul_in_a_login_or_password_is_a_422(
    connector: Connector, field: str, bad: str
) -> None:
    c = connector
    problem = NUL_TEXT if bad == NUL else SURROGATE_TEXT
    module = {"login": MODULE_LOGIN, "password": MODULE_PASSWORD, field: bad}
    assert_refused(send_json(c, "POST", "/starface/v1/session", module), field, problem)
    jtel_field = "username" if field == "login" else field
    sysadmin = {"username": "sysadmin", "password": ADMIN_PASSWORD, jtel_field: bad}
    assert_refused(send_json(c, "POST", "/api/v1/auth/login", sysadmin), jtel_field, problem)
    # the server is fine afterwards, and a right login still works
    assert c.open_session().status_code == 200
    assert c.login("sysadmin", ADMIN_PASSWORD).status_code == 200


# ---- surrogates, NUL and over-long text in every field of both APIs ------------------------

#: (method, path, field, where, longest accepted, a valid body)
TEXT_FIELDS: list[tuple[str, str, str, str, int, dict[str, Any] | None]] = [
    ("POST", "/api/v1/auth/login", "username", "body", 128, {"password": "x"}),
    ("POST", "/api/v1/auth/login", "password", "body", 1024, {"username": "nobody"}),
    ("POST", "/starface/v1/session", "login", "body", 128, {"password": "x"}),
    ("POST", "/starface/v1/session", "password", "body", 1024, {"login": "nobody"}),
    ("GET", "/api/v1/users", "search", "query", 200, None),
    ("GET", "/api/v1/events", "login", "query", 128, None),
    ("GET", "/api/v1/users/{}", "users_uid", "path", 128, None),
    ("PUT", "/api/v1/users/{}/acd-status", "users_uid", "path", 128, {"acdStatus": "PAUSE"}),
    ("PUT", "/api/v1/users/{}/password", "users_uid", "path", 128, {"password": "long-enough"}),
    ("PUT", "/api/v1/users/4711/password", "password", "body", 256, {}),
    ("PUT", "/api/v1/parameters/{}", "name", "path", 200, {"value": "1"}),
    ("PUT", f"/api/v1/parameters/{P}IgnoreUserStatus", "value", "body", 64, {}),
]


def _request(
    c: Connector, method: str, path: str, field: str, where: str, value: str, body: Any
) -> httpx.Response:
    headers = admin_headers(c)
    if where == "path":
        return send_json(c, method, path.format(quote(value, safe="")), body, headers)
    if where == "query":
        return c.http.request(method, f"{c.url}{path}", params={field: value}, headers=headers)
    return send_json(c, method, path, {**(body or {}), field: value}, headers)


def test_nul_surrogates_and_over_long_text_in_every_field_are_refused(
    connector: Connector,
) -> None:
    """Each text field: NUL and one character over its limit are 422 naming the field, a
    lone surrogate too where JSON can carry one; at the limit it is read (no 422). No refused
    write leaves a trace."""
    c = connector
    assert c.one(c.user_update("4711"))["outcome"] == "applied"
    parameters, log = stored_parameters(c), event_log(c)
    for method, path, field, where, longest, body in TEXT_FIELDS:
        case = f"{method} {path} {field}"
        for value, problem in [
            (f"abcd{NUL}efgh", NUL_TEXT),
            ("x" * (longest + 1), f"String should have at most {longest} characters"),
        ]:
            response = _request(c, method, path, field, where, value, body)
            assert_refused(response, field, problem)
        if where == "body":
            response = _request(c, method, path, field, where, f"abcd{SURROGATE}efgh", body)
            assert_refused(response, field, SURROGATE_TEXT)
        at_limit = _request(c, method, path, field, where, "x" * longest, body)
        assert at_limit.status_code < 500, (case, at_limit.text)
        assert "should have at most" not in at_limit.text, (case, at_limit.text)
    assert stored_parameters(c) == parameters
    assert event_log(c) == log
    # a surrogate's UTF-8 bytes in a URL are no text either: read as U+FFFD, never a 500
    for url in ("/api/v1/users/%ED%A0%80", "/api/v1/users?search=%ED%A0%80"):
        response = c.admin("GET", url)
        assert response.status_code in (200, 404), (url, response.text)


def test_an_event_with_a_surrogate_nul_or_over_long_text_is_rejected_alone(
    connector: Connector,
) -> None:
    c = connector
    raw = [
        c.user_update("5001", firstName=f"An{SURROGATE}na"),
        c.user_update("5002", familyName=f"M{NUL}"),
        c.user_update("5003", firstName="A" * 201),
        c.next_event("USER_STATUS", login=f"50{SURROGATE}", status="LOGGED_IN"),
        c.group_update("g50", f"Team{SURROGATE}", ["5004"]),
        c.user_update("5004"),
    ]
    response = send_json(
        c,
        "POST",
        "/starface/v1/events",
        {"events": raw},
        {"X-Session-Id": c.session_id or _session(c)},
    )
    assert response.status_code == 200, response.text
    outcomes = [(r["outcome"], r["reason"]) for r in response.json()["results"]]
    assert outcomes[:5] == [
        ("rejected", f"rejected: malformed event: user.firstName: {SURROGATE_TEXT}"),
        ("rejected", f"rejected: malformed event: user.familyName: {NUL_TEXT}"),
        (
            "rejected",
            "rejected: malformed event: user.firstName: String should have at most 200 characters",
        ),
        ("rejected", f"rejected: malformed event: login: {SURROGATE_TEXT}"),
        ("rejected", f"rejected: malformed event: group.name: {SURROGATE_TEXT}"),
    ]
    assert outcomes[5][0] == "applied"
    assert [u["usersUid"] for u in users(c)["items"]] == ["5004"]
    assert len(event_log(c, outcome="rejected")) == 5


def _session(c: Connector) -> str:
    assert c.open_session().status_code == 200
    assert c.session_id is not None
    return c.session_id


# ---- issue 8, defect 5: paging values are bounded ------------------------------------------


def test_huge_paging_values_are_a_422_and_the_largest_allowed_one_works(
    connector: Connector,
) -> None:
    c = connector
    assert c.one(c.user_update("5101"))["outcome"] == "applied"
    for path, name in [("/api/v1/users", "offset"), ("/api/v1/events", "afterId")]:
        for value in (str(MAX_BIGINT + 1), "99999999999999999999", "-1"):
            response = c.admin("GET", path, params={name: value})
            assert response.status_code == 422, (path, value, response.text)
            assert response.json()["detail"].startswith(f"invalid request: {name}: "), value
        largest = c.admin("GET", path, params={name: str(MAX_BIGINT)})
        assert largest.status_code == 200, (path, largest.text)
        assert largest.json()["items"] == []
    for path in ("/api/v1/users", "/api/v1/events", "/api/v1/parameters/changes"):
        for value in ("0", "1001", str(MAX_BIGINT + 1)):
            response = c.admin("GET", path, params={"limit": value})
            assert response.status_code == 422, (path, value, response.text)
        assert c.admin("GET", path, params={"limit": "1000"}).status_code == 200, path
    assert users(c, offset=0, limit=1000)["total"] == 1


# ---- issue 8, defect 9: Login-IDs every URL can reach -----------------------------------------

#: logins the rule takes in: each is reachable at /api/v1/users/{usersUid}, percent-encoded
REACHABLE = ["5201", "anna.müller", "Zoë Châtelain", "a%2Fb", "a?b#c", "...", "a+b", "a\\b"]
#: logins the rule refuses, with the words of the refusal
UNREACHABLE = [
    ("52/01", "it contains '/'"),
    ("/", "it contains '/'"),
    (" 5202", "it begins or ends with a space"),
    ("5203 ", "it begins or ends with a space"),
    ("52\t04", "it contains a control character"),
    ("5205\n", "it contains a control character"),
    (".", "it is '.' or '..'"),
    ("..", "it is '.' or '..'"),
]


def test_a_login_no_url_could_reach_is_rejected_alone_and_every_other_is_reachable(
    connector: Connector,
) -> None:
    c = connector
    bad_events = [c.user_update(login) for login, _ in UNREACHABLE]
    others = [
        c.user_status("52/01", "LOGGED_IN"),
        c.phone_status(" 5202", "IDLE"),
        c.user_delete(".."),
        c.next_event("DND_STATUS", login="5203 ", enabled=True),
        c.group_update("g52", "Team", ["5201", "52/01"]),
    ]
    good = [c.user_update(login) for login in REACHABLE]
    answers = c.results(*bad_events, *others, *good)
    refused = [f"rejected: login {login!r} is not allowed: {why}" for login, why in UNREACHABLE] + [
        "rejected: login '52/01' is not allowed: it contains '/'",
        "rejected: login ' 5202' is not allowed: it begins or ends with a space",
        "rejected: login '..' is not allowed: it is '.' or '..'",
        "rejected: login '5203 ' is not allowed: it begins or ends with a space",
        "rejected: login '52/01' is not allowed: it contains '/'",
    ]
    assert [(a["outcome"], a["reason"]) for a in answers[: len(refused)]] == [
        ("rejected", reason) for reason in refused
    ]
    assert {a["outcome"] for a in answers[len(refused) :]} == {"applied"}
    assert sorted(u["usersUid"] for u in users(c)["items"]) == sorted(REACHABLE)
    for login in REACHABLE:
        response = c.admin("GET", f"/api/v1/users/{quote(login, safe='')}")
        assert response.status_code == 200, (login, response.text)
        assert response.json()["usersUid"] == login
    logged = {e["login"] for e in event_log(c, outcome="rejected")}
    assert {"52/01", " 5202", "..", "5203 "} <= logged  # the log says whom it was about


# ---- search: the same on every database ------------------------------------------------------

PEOPLE = [
    ("5301", "Anna", "Müller"),
    ("5302", "Bernd", "Muller"),
    ("5303", "Carla", "MÜLLER-Lüdenscheidt"),
    ("5304", "Deniz", "Özdemir"),
    ("5305", "Eva", "100%_sicher"),
]


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("müller", ["5301", "5303"]),
        ("MÜLLER", ["5301", "5303"]),
        ("Muller", ["5302"]),
        ("muller", ["5302"]),
        ("özdemir", ["5304"]),
        ("ozdemir", []),
        ("LÜDENSCHEIDT", ["5303"]),
        ("%_", ["5305"]),  # LIKE's wildcards are literal characters
        ("_", ["5305"]),
        ("53", ["5301", "5302", "5303", "5304", "5305"]),
    ],
)
def test_search_is_case_insensitive_and_accent_sensitive_on_every_database(
    connector: Connector, container: Container, search: str, found: list[str]
) -> None:
    """The API's search, the board's and the console's user list find the same users on
    SQLite, PostgreSQL and MariaDB (whose standard collation would also fold accents)."""
    c = connector
    events = [c.user_update(login, firstName=f, familyName=last) for login, f, last in PEOPLE]
    assert {r["outcome"] for r in c.results(*events)} == {"applied"}
    assert [u["usersUid"] for u in users(c, search=search)["items"]] == found
    assert sorted(a.login for a in container.views.agents(search=search)) == found
    assert [u.users_uid for u in container.views.users(search=search).items] == found


def test_search_and_event_log_filters_refuse_nul_and_treat_logins_exactly(
    connector: Connector,
) -> None:
    c = connector
    assert {r["outcome"] for r in c.results(c.user_update("anna"), c.user_update("Anna"))} == {
        "applied"
    }
    assert_refused(c.admin("GET", "/api/v1/users", params={"search": "an\x00"}), "search", NUL_TEXT)
    assert_refused(c.admin("GET", "/api/v1/events", params={"login": "an\x00"}), "login", NUL_TEXT)
    # the event log's login filter is exact on every database: case and accents count
    exact = [("anna", {"anna"}), ("Anna", {"Anna"}), ("ANNA", set()), ("änna", set())]
    for login, expected in exact:
        assert {e["login"] for e in event_log(c, login=login)} == expected, login


# ---- the console's fields -------------------------------------------------------------------


def test_console_fields_refuse_nul_and_over_long_text_with_a_page_and_change_nothing(
    connector: Connector, container: Container
) -> None:
    c = connector
    assert c.one(c.user_update("5401"))["outcome"] == "applied"
    token = container.accounts.sign_in("sysadmin", ADMIN_PASSWORD, CONSOLE)
    assert token is not None
    cookies = {SESSION_COOKIE: token}
    csrf = csrf_for(token)
    before = _parameters(container)

    def get(path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{c.url}{path}", params=params, cookies=cookies)

    def post(path: str, **form: str) -> httpx.Response:
        return httpx.post(f"{c.url}{path}", data={"csrf": csrf, **form}, cookies=cookies)

    refused = [
        get("/users", search="an\x00"),
        get("/users", search="x" * 201),
        get("/board", search="\x00"),
        get("/board", group="g\x00"),
        get("/events", login="\x00"),
        get("/events", login="x" * 129),
        get("/events", before=str(MAX_BIGINT + 1)),
        get("/users/54%0001"),
        post("/parameters", name=f"{P}IgnoreUserStatus", value="0\x00"),
        post("/parameters", name=f"{P}IgnoreUserStatus", value="0" * 201),
        post("/acd-status", login="5401\x00", status="PAUSE"),
        post("/password-reset", login="5401", password="new-pass\x00word"),
    ]
    for response in refused:
        assert response.status_code == 422, (response.request.url, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert "Not understood" in response.text and "nothing was changed" in response.text
    assert get("/events", before=str(MAX_BIGINT)).status_code == 200
    assert get("/users", search="x" * 200).status_code == 200
    assert _parameters(container) == before
    assert get_user(c, "5401")["acdStatus"] == "LOGGED_OFF"
    assert event_log(c, type="ACD_STATUS_SET") == []
    login = httpx.post(
        f"{c.url}/login",
        data={"username": "x" * 129, "password": "x", "csrf": "t"},
        cookies={LOGIN_CSRF_COOKIE: "t"},
    )
    assert login.status_code == 422 and "Not understood" in login.text


def _parameters(container: Container) -> dict[str, str]:
    with container.engine.connect() as connection:
        return {row.name: row.value for row in connection.execute(select(ParameterRow))}
