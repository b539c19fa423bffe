"""The authorization matrix (issue 8, item 8): every operation of both APIs and every console
route, by who asks, each cell asserting the exact answer, on SQLite, PostgreSQL and MariaDB.

The expected answers are the table below, written down here and not derived from the app; the
operations are enumerated from the app's routes, and a route missing from the table fails the
test, so a new route cannot go unguarded unnoticed.

Who asks (the columns), with the credential each API or the console is sent:

==========  =========================  ============================  ===========================
column      /api/v1 (Bearer)           /starface/v1 (X-Session-Id)   console (session cookie)
==========  =========================  ============================  ===========================
anonymous   none                       none                          none
agent       agent's API token          agent's API token             agent's console session
admin       admin-flag user's token    admin-flag user's token       their console session
sysadmin    sysadmin's API token       sysadmin's API token          sysadmin's console session
module      a module session           a module session (valid)      a module session
wrong_kind  a console session          an API token (sysadmin's)     an API token (sysadmin's)
expired     sysadmin's token, 8 h idle a module session past expiry  sysadmin's session, idle
==========  =========================  ============================  ===========================

An answer is a status; a console redirect (303) also says where to: ``303 sign-in`` (to the
login form) or ``303 page`` (anywhere else), since the console answers a refusal to a visitor
not signed in with the login form.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from starface_connector.api.app import create_app
from starface_connector.api.responses import all_routes
from starface_connector.api.schemas import parse_event
from starface_connector.bootstrap import Container
from starface_connector.service.accounts import API, CONSOLE, MODULE
from starface_connector.serving import run_in_thread
from starface_connector.web.session import LOGIN_CSRF_COOKIE, SESSION_COOKIE, csrf_for
from tests.conftest import ADMIN_PASSWORD, MODULE_LOGIN, MODULE_PASSWORD, MovableClock, reset
from tests.integration.helpers import P

WHO = ("anonymous", "agent", "admin", "sysadmin", "module", "wrong_kind", "expired")
AGENT, ADMIN, TARGET = "7001", "7002", "7003"
USERS = (AGENT, ADMIN, TARGET)
#: how far the clock moves for the expired column: past API tokens' 8 h, console sessions'
#: 30 min and the module sessions' SessionExpireSeconds
LATER = 9 * 3600

PUBLIC = ("200",) * 7
ANY_AGENT = ("401", "200", "200", "200", "401", "401", "401")
ADMINS = ("401", "403", "200", "200", "401", "401", "401")
MODULE_ONLY = ("401", "401", "401", "401", "200", "401", "401")
ADMIN_PAGE = ("303 sign-in", "403", "200", "200", "303 sign-in", "303 sign-in", "303 sign-in")
ADMIN_FORM = (
    "303 sign-in",
    "403",
    "303 page",
    "303 page",
    "303 sign-in",
    "303 sign-in",
    "303 sign-in",
)
SIGNED_IN_FORM = ("303 sign-in", *("303 page",) * 3, *("303 sign-in",) * 3)


@dataclass(frozen=True)
class Call:
    """One request of an operation: the concrete path, a JSON body or a form."""

    path: str
    json: Any = None
    form: dict[str, str] | None = None
    stream: bool = False


#: (method, route path) -> (the request, the answer per column of WHO)
MATRIX: dict[tuple[str, str], tuple[Call, tuple[str, ...]]] = {
    # ---- /starface/v1
    ("POST", "/starface/v1/session"): (
        Call("/starface/v1/session", {"login": MODULE_LOGIN, "password": MODULE_PASSWORD}),
        PUBLIC,
    ),
    ("DELETE", "/starface/v1/session"): (
        Call("/starface/v1/session"),
        ("401", "401", "401", "401", "204", "401", "401"),
    ),
    ("POST", "/starface/v1/events"): (
        Call("/starface/v1/events", {"events": "BATCH"}),
        MODULE_ONLY,
    ),
    # ---- /api/v1
    ("POST", "/api/v1/auth/login"): (
        Call("/api/v1/auth/login", {"username": "sysadmin", "password": ADMIN_PASSWORD}),
        PUBLIC,
    ),
    ("GET", "/api/v1/me"): (Call("/api/v1/me"), ANY_AGENT),
    ("PUT", "/api/v1/me/acd-status"): (
        Call("/api/v1/me/acd-status", {"acdStatus": "PAUSE"}),
        ("401", "200", "200", "409", "401", "401", "401"),
    ),
    ("PUT", "/api/v1/me/password"): (  # a wrong old password: refused once past the guard
        Call("/api/v1/me/password", {"oldPassword": "wrong", "newPassword": "new-pass-1"}),
        ("401", "403", "403", "409", "401", "401", "401"),
    ),
    ("GET", "/api/v1/users"): (Call("/api/v1/users"), ADMINS),
    ("GET", "/api/v1/users/{users_uid}"): (Call(f"/api/v1/users/{TARGET}"), ADMINS),
    ("PUT", "/api/v1/users/{users_uid}/acd-status"): (
        Call(f"/api/v1/users/{TARGET}/acd-status", {"acdStatus": "PAUSE"}),
        ADMINS,
    ),
    ("PUT", "/api/v1/users/{users_uid}/password"): (
        Call(f"/api/v1/users/{TARGET}/password", {"password": "a-new-password"}),
        ("401", "403", "204", "204", "401", "401", "401"),
    ),
    ("GET", "/api/v1/groups"): (Call("/api/v1/groups"), ADMINS),
    ("GET", "/api/v1/parameters"): (Call("/api/v1/parameters"), ADMINS),
    ("GET", "/api/v1/parameters/changes"): (Call("/api/v1/parameters/changes"), ADMINS),
    ("PUT", "/api/v1/parameters/{name}"): (
        Call(f"/api/v1/parameters/{P}IgnoreUserStatus", {"value": "1"}),
        ADMINS,
    ),
    ("GET", "/api/v1/events"): (Call("/api/v1/events"), ADMINS),
    ("POST", "/api/v1/import"): (
        Call("/api/v1/import"),  # no STARFACE configured: a conflict, once past the guard
        ("401", "403", "409", "409", "401", "401", "401"),
    ),
    ("GET", "/api/v1/imports"): (Call("/api/v1/imports"), ADMINS),
    # ---- operations, the document and the API docs: public
    ("GET", "/healthz"): (Call("/healthz"), PUBLIC),
    ("GET", "/readyz"): (Call("/readyz"), PUBLIC),
    ("GET", "/metrics"): (Call("/metrics"), PUBLIC),  # counts only: see operations.md
    ("GET", "/openapi.json"): (Call("/openapi.json"), PUBLIC),
    ("GET", "/docs"): (Call("/docs"), PUBLIC),
    ("GET", "/redoc"): (Call("/redoc"), PUBLIC),
    # ---- the console
    ("GET", "/"): (
        Call("/"),
        ("200", "303 page", "303 page", "303 page", "200", "200", "200"),
    ),
    ("POST", "/login"): (
        Call("/login", form={"username": "sysadmin", "password": ADMIN_PASSWORD}),
        ("303 page",) * 7,
    ),
    ("POST", "/logout"): (Call("/logout", form={}), ("303 page",) * 7),
    ("GET", "/language/{code}"): (Call("/language/de"), ("303 page",) * 7),
    ("GET", "/board"): (Call("/board"), ADMIN_PAGE),
    ("GET", "/board/stream"): (Call("/board/stream", stream=True), ADMIN_PAGE),
    ("GET", "/users"): (Call("/users"), ADMIN_PAGE),
    ("GET", "/users/{login:path}"): (Call(f"/users/{TARGET}"), ADMIN_PAGE),
    ("POST", "/acd-status"): (
        Call("/acd-status", form={"login": TARGET, "status": "PAUSE"}),
        ADMIN_FORM,
    ),
    ("POST", "/password-reset"): (
        Call("/password-reset", form={"login": TARGET, "password": "a-new-password"}),
        ADMIN_FORM,
    ),
    ("GET", "/events"): (Call("/events"), ADMIN_PAGE),
    ("GET", "/parameters"): (Call("/parameters"), ADMIN_PAGE),
    ("POST", "/parameters"): (
        Call("/parameters", form={"name": f"{P}IgnoreUserStatus", "value": "1"}),
        ADMIN_FORM,
    ),
    ("GET", "/import"): (Call("/import"), ADMIN_PAGE),
    ("POST", "/import/dry-run"): (
        Call("/import/dry-run", form={}),  # no STARFACE configured: a conflict
        ("303 sign-in", "403", "409", "409", "303 sign-in", "303 sign-in", "303 sign-in"),
    ),
    ("POST", "/import/apply"): (
        Call("/import/apply", form={}),
        ("303 sign-in", "403", "409", "409", "303 sign-in", "303 sign-in", "303 sign-in"),
    ),
    ("GET", "/import/stream"): (Call("/import/stream", stream=True), ADMIN_PAGE),
    ("GET", "/me"): (
        Call("/me"),  # sysadmin is no agent: sent to the board
        ("303 sign-in", "200", "200", "303 page", "303 sign-in", "303 sign-in", "303 sign-in"),
    ),
    ("GET", "/me/stream"): (
        Call("/me/stream", stream=True),
        ("303 sign-in", "200", "200", "200", "303 sign-in", "303 sign-in", "303 sign-in"),
    ),
    ("POST", "/me/password"): (
        Call("/me/password", form={"old": "wrong", "new": "new-pass-1", "repeat": "new-pass-1"}),
        SIGNED_IN_FORM,
    ),
}


def test_every_route_of_the_app_is_in_the_matrix(container: Container) -> None:
    app = create_app(container)
    routes = {
        (method, route.path)
        for route in all_routes(app)
        if route.methods
        for method in route.methods - {"HEAD"}
    }
    assert routes == set(MATRIX)


@dataclass
class World:
    """The accounts of the matrix on one database, and credentials renewed when a cell ended
    them (a logout, a password reset, a login that purged idle sessions at a later clock)."""

    container: Container
    clock: MovableClock
    held: dict[tuple[str, str], str] = field(default_factory=dict)

    def seed(self) -> None:
        """The agent, the admin-flag user and the user the administrators act on."""
        self.container.admin.set_parameter(f"{P}IgnoreUserSecurity", "0", actor="test")
        batch = [_event("USER_UPDATE", user=_profile(login, login == ADMIN)) for login in USERS]
        results = self.container.events.apply_batch([parse_event(e) for e in batch])
        assert {r.outcome.value for r in results} == {"applied"}, results

    def ensure_users(self) -> None:
        """Another test module may have emptied the database meanwhile: seed it again."""
        if any(self.container.views.user(u) is None for u in USERS):
            reset(self.container.engine)
            self.held.clear()
            self.seed()

    def _valid(self, kind: str, token: str) -> bool:
        if kind == MODULE:
            return self.container.accounts.touch_module_session(token)
        return self.container.accounts.principal_for(token, kind) is not None

    def token(self, kind: str, who: str, *, fresh: bool = False) -> str:
        """A live API token, console session or module session of ``who``."""
        key = (kind, who)
        if not fresh and key in self.held and self._valid(kind, self.held[key]):
            return self.held[key]
        accounts = self.container.accounts
        if kind == MODULE:
            opened = accounts.open_module_session(MODULE_LOGIN, MODULE_PASSWORD)
            assert opened is not None
            token = opened.session_id
        else:
            if who in (AGENT, ADMIN):
                accounts.set_user_password(who, who)  # a cell may have changed it
            password = ADMIN_PASSWORD if who == "sysadmin" else who
            signed = accounts.sign_in(who, password, kind)
            assert signed is not None, (kind, who)
            token = signed
        self.held[key] = token
        return token


@pytest.fixture(scope="module")
def world(container: Container, clock: MovableClock) -> Iterator[World]:
    reset(container.engine)
    made = World(container, clock)
    made.seed()
    yield made
    reset(container.engine)


@pytest.fixture(scope="module")
def http(world: World) -> Iterator[httpx.Client]:
    """One client for every cell: each sends its own credentials and keeps no cookie."""
    with (
        run_in_thread(create_app(world.container)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def _credential(world: World, family: str, who: str, fresh: bool) -> str | None:
    """The token ``who`` is sent with on ``family`` (api, starface or console)."""
    user = {"agent": AGENT, "admin": ADMIN, "sysadmin": "sysadmin", "expired": "sysadmin"}
    if who == "anonymous":
        return None
    if who == "module" or (who == "expired" and family == "starface"):
        return world.token(MODULE, MODULE, fresh=fresh)
    if who == "wrong_kind":
        return world.token(CONSOLE if family == "api" else API, "sysadmin")
    kind = CONSOLE if family == "console" else API
    return world.token(kind, user[who], fresh=fresh)


def _event(kind: str, **body: Any) -> dict[str, Any]:
    moment = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"eventId": f"matrix-{secrets.token_hex(8)}", "occurredAt": moment, "type": kind, **body}


def _profile(login: str, admin: bool) -> dict[str, Any]:
    return {
        "login": login,
        "firstName": "Matrix",
        "familyName": login,
        "email": f"{login}@example.com",
        "language": "de",
        "admin": admin,
        "phoneNumbers": [],
    }


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("operation", list(MATRIX), ids=lambda o: f"{o[0]} {o[1]}")
def test_the_authorization_matrix(
    world: World, http: httpx.Client, operation: tuple[str, str], who: str
) -> None:
    method, route = operation
    call, answers = MATRIX[operation]
    expected = answers[WHO.index(who)]
    world.ensure_users()
    family = (
        "starface"
        if route.startswith("/starface/")
        else "api"
        if route.startswith("/api/")
        else "console"
    )
    # a cell that ends its own credential gets one of its own
    ends_it = (method, route) in (("DELETE", "/starface/v1/session"), ("POST", "/logout"))
    token = _credential(world, family, who, fresh=ends_it)
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    data = None
    if token is not None and family == "api":
        headers["Authorization"] = f"Bearer {token}"
    elif token is not None and family == "starface":
        headers["X-Session-Id"] = token
    elif token is not None:
        cookies[SESSION_COOKIE] = token
    if call.form is not None:
        # a signed-in visitor's forms carry the token made from their session, any other
        # the login form's (the console sees an expired session as no session)
        signed_in = token is not None and who in ("agent", "admin", "sysadmin")
        csrf = csrf_for(token) if signed_in and token else "login-form-token"
        cookies[LOGIN_CSRF_COOKIE] = "login-form-token"
        data = {**call.form, "csrf": csrf}
    body = call.json
    if call.json == {"events": "BATCH"}:
        body = {"events": [_event("PHONE_STATUS", login=AGENT, status="IDLE")]}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if who == "expired":
        world.clock.advance(LATER)
    http.cookies.clear()
    request = http.build_request(method, call.path, json=body, data=data, headers=headers)
    response = http.send(request, stream=call.stream)
    try:
        answer = str(response.status_code)
        if response.status_code == 303:
            location = response.headers["location"]
            answer += " sign-in" if location.startswith("/?next=") else " page"
    finally:
        response.close()
        http.cookies.clear()
    assert answer == expected, f"{method} {route} as {who}: {answer}, expected {expected}"
