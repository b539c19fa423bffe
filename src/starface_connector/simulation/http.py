"""The STARFACE REST endpoints the connector uses, served with Starlette under ``/rest``.

:func:`create_simulator_app` serves a :class:`~.state.SimulatedPbx` exactly as the STARFACE
REST API 6.7.0.22 specification describes it (Swagger 2.0, paths under ``/rest``), including
the nonce login, ``authToken`` checks, and injected faults and latency for resilience tests.

Where the specification is silent or odd, the simulator chooses the documented option:

* ``GET /groups/{groupid}`` for an unknown group answers 500 (the only documented error).
* ``GET /users/{userId}`` for an unknown user answers 404 with a body that satisfies the
  documented ``User`` schema (all required strings empty).
* ``GET /users/{userId}/phonenumberconfig/phonenumbers/`` for an unknown user answers 400
  with an empty ``PhoneNumberAssignment`` array, as documented.
* ``POST /login`` with wrong credentials or a used nonce answers 400 with an ``AuthToken``
  whose ``token`` is empty, as documented.
* Optional integer fields such as ``PhoneNumber.assignedUserAccountId`` are left out instead
  of being ``null``, because the schema types them as plain integers.

Errors without a documented body answer ``{"code", "message"}``, as the PBX does.

Behaviours outside the specification, as real PBXs and proxies have them: requests without a
valid ``authToken`` get 401 (tokens also expire after ``token_lifetime``, 4 hours by default);
``GET /login`` sends ``"secret": null``; injected faults answer 502, 503 or 504 (scripted ones
any status, 429 with ``Retry-After``) with the header ``X-Simulator-Fault: injected`` so tests
can tell them from real answers; a user record broken on purpose
(``control.broken_users``) is marked ``X-Simulator-Fault: record``. An ``X-Version`` header
other than 1 or 2 is refused with 400.

The REST account is user ``ACCOUNT_ID`` (``GET /users/me``), not one of the generated users.
It holds the administration permission unless ``control.account_admin`` is False; then
``GET /users`` lists only the users it "can access" (spec, ``/users``): every second one.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .control import ACCOUNT_ID, TOKEN_LIFETIME, SimulatorControl
from .records import (
    ADMIN_PERMISSION_ID,
    DEFAULT_PERMISSION_IDS,
    PERMISSIONS,
    dumps,
    permission_info,
)
from .render import RestRenderer
from .state import SimulatedPbx

__all__ = ["FAULT_HEADER", "SUPPORTED_API_VERSIONS", "create_simulator_app"]

#: ``X-Version`` header values the simulator accepts (a missing header is accepted too).
SUPPORTED_API_VERSIONS = frozenset({"1", "2"})
#: Header marking injected faults so tests can tell them from real answers.
FAULT_HEADER = "X-Simulator-Fault"

_JSON = "application/json"
_CONVERTER = re.compile(r":\w+}")
Handler = Callable[[Request], Awaitable[Response]]


def _json(body: bytes, status: int = 200) -> Response:
    return Response(content=body, status_code=status, media_type=_JSON)


def _message(text: str, status: int, code: str = "") -> Response:
    """An error as the PBX answers it: ``{"code", "message"}``."""
    return _json(dumps({"code": code or _CODES.get(status, str(status)), "message": text}), status)


_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def _parse_bool(raw: str | None) -> bool | None:
    if raw is None:
        return None
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(raw)


def create_simulator_app(
    pbx: SimulatedPbx,
    *,
    login: str = "admin",
    password: str = "starface",
    error_rate: float = 0.0,
    latency: float = 0.0,
    seed: int = 42,
    list_unassigned_users: bool = False,
    token_lifetime: float = TOKEN_LIFETIME,
    login_type: str = "Internal",
    monotonic: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Starlette:
    """Build the ASGI app serving ``pbx`` under ``/rest``.

    ``login``/``password`` is the one API account that may log in. ``error_rate`` is the share
    of requests answered 500 or 503 (seeded by ``seed``), ``latency`` seconds are added to every
    request (awaited with ``sleep``). ``list_unassigned_users`` makes group details list all
    users, not only members. Tokens expire ``token_lifetime`` seconds after the login (read on
    ``monotonic``). ``login_type`` is what ``GET /login`` asks for. The app's state holds
    ``control`` (:class:`SimulatorControl`) and ``pbx``.
    """
    control = SimulatorControl(
        login=login,
        password=password,
        error_rate=error_rate,
        latency=latency,
        seed=seed,
        list_unassigned_users=list_unassigned_users,
        token_lifetime=token_lifetime,
        login_type=login_type,
        **({"monotonic": monotonic} if monotonic is not None else {}),
    )
    rest = RestRenderer(pbx)

    def guarded(method: str, template: str, handler: Handler, *, auth: bool = True) -> Route:
        """Wrap a handler with counting, latency, fault injection, version and token checks."""
        key = method + " " + _CONVERTER.sub("}", template)  # spec path template as key

        async def endpoint(request: Request) -> Response:
            version = request.headers.get("x-version")
            control.enter(key, version)
            try:
                if control.latency:
                    await sleep(control.latency)
                fault = control.draw_fault(key)
                if fault is not None:
                    response = _message(f"{fault.message} {fault.status}", fault.status)
                    response.headers[FAULT_HEADER] = "injected"
                    if fault.retry_after is not None:
                        response.headers["Retry-After"] = fault.retry_after
                    return response
                if version is not None and version not in SUPPORTED_API_VERSIONS:
                    return _message(f"unsupported X-Version {version}", 400)
                if auth and not control.token_valid(request.headers.get("authtoken")):
                    return _message("authToken missing or invalid", 401)
                return await handler(request)
            finally:
                control.leave()

        return Route("/rest" + template, endpoint, methods=[method])

    async def get_login(request: Request) -> Response:
        # A real PBX sends the template's secret as null.
        template = {"loginType": control.login_type, "nonce": control.new_nonce(), "secret": None}
        return _json(dumps(template))

    async def post_login(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        token = None
        if isinstance(body, dict):
            token = control.try_login(body.get("loginType"), body.get("nonce"), body.get("secret"))
        if token is None:
            return _json(dumps({"token": ""}), 400)
        return _json(dumps({"token": token}))

    async def delete_login(request: Request) -> Response:
        token = request.headers.get("authtoken")
        if token is None:
            return _message("authToken header missing", 401)
        control.logout(token)
        return Response(status_code=204)

    async def get_users(request: Request) -> Response:
        body = rest.render_users(request.query_params.get("searchTerm"))
        if control.account_admin and not control.broken_users:
            return _json(body)
        users = json.loads(body)
        if not control.account_admin:  # only the users this account "can access"
            users = users[::2]
        for user in users:
            user.update(control.broken_users.get(user["id"], {}))
        response = _json(dumps(users))
        if control.broken_users:
            response.headers[FAULT_HEADER] = "record"
        return response

    async def get_me(request: Request) -> Response:
        return _json(dumps(_account(control.login)))

    async def get_user(request: Request) -> Response:
        body = rest.render_user(request.path_params["userId"])
        if body is None:
            empty_user = {"email": "", "familyName": "", "firstName": "", "language": ""}
            return _json(dumps({**empty_user, "login": ""}), 404)
        return _json(body)

    async def get_groups(request: Request) -> Response:
        return _json(rest.render_groups())

    async def get_group(request: Request) -> Response:
        body = rest.render_group(request.path_params["groupid"], control.list_unassigned_users)
        if body is None:
            return _message("group not found", 500)
        return _json(body)

    async def get_permissions(request: Request) -> Response:
        return _json(rest.render_permissions())

    async def get_permission_users(request: Request) -> Response:
        body = rest.render_permission_users(request.path_params["permissionId"])
        if body is None:
            return _message("permission not found", 404)
        return _json(body)

    async def get_user_permissions(request: Request) -> Response:
        if request.path_params["userId"] == ACCOUNT_ID:
            granted = set(DEFAULT_PERMISSION_IDS)
            if control.account_admin:
                granted.add(ADMIN_PERMISSION_ID)
            infos = [permission_info(*p) for p in PERMISSIONS if p[0] in granted]
            return _json(dumps(infos))
        body = rest.render_user_permissions(request.path_params["userId"])
        if body is None:
            return _message("user not found", 404)
        return _json(body)

    async def get_phone_numbers(request: Request) -> Response:
        try:
            assigned = _parse_bool(request.query_params.get("assigned"))
        except ValueError:
            return _message("assigned must be true or false", 500)
        return _json(rest.render_phone_numbers(request.query_params.get("type"), assigned))

    async def get_number_assignments(request: Request) -> Response:
        body = rest.render_number_assignments(request.path_params["userId"])
        if body is None:
            return _json(b"[]", 400)
        return _json(body)

    routes = [
        guarded("GET", "/login", get_login, auth=False),
        guarded("POST", "/login", post_login, auth=False),
        guarded("DELETE", "/login", delete_login, auth=False),
        guarded("GET", "/users", get_users),
        guarded("GET", "/users/me", get_me),
        guarded("GET", "/users/{userId:int}", get_user),
        guarded(
            "GET", "/users/{userId:int}/phonenumberconfig/phonenumbers/", get_number_assignments
        ),
        guarded("GET", "/groups", get_groups),
        guarded("GET", "/groups/{groupid:int}", get_group),
        guarded("GET", "/permissions", get_permissions),
        guarded("GET", "/permissions/users/{userId:int}", get_user_permissions),
        guarded("GET", "/permissions/{permissionId:int}/users", get_permission_users),
        guarded("GET", "/phonenumbers", get_phone_numbers),
    ]
    app = Starlette(routes=routes)
    app.state.control = control
    app.state.pbx = pbx
    return app


def _account(login: str) -> dict[str, object]:
    """The REST account as a spec ``User``."""
    return {
        "id": ACCOUNT_ID,
        "login": login,
        "firstName": "REST",
        "familyName": "API",
        "email": "",
        "language": "en",
        "personId": "00000000-0000-4000-8000-000000000001",
        "missedCallReport": False,
        "faxCoverPage": False,
        "faxEmailJournal": False,
    }
