"""The jtel-side API (/api/v1): users, groups, parameters, the event log, imports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status

from ..domain.model import EventType, ManualChange, Outcome
from ..domain.parameters import SPECS_BY_NAME, InvalidParameter
from ..domain.text import MAX_BIGINT, MAX_LOGIN
from ..service.accounts import SYSADMIN
from ..service.errors import ImportBusy, ImportRefused, PbxError
from ..service.throttling import LoginThrottled
from ..storage.views import LogFilter
from .client import address_of, too_many
from .deps import Admin, CurrentUser, Services
from .jtel_schemas import (
    AcdStatusIn,
    BuiltinOut,
    EventLogPageOut,
    GroupOut,
    ImportReportOut,
    ImportRunOut,
    LogEntryOut,
    LoginIn,
    MeOut,
    OwnPasswordIn,
    ParameterChangeOut,
    ParameterOut,
    ParameterValueIn,
    PasswordIn,
    TokenOut,
    UserOut,
    UserPageOut,
)
from .responses import BODY, DATABASE, refusals
from .schemas import CLEAN

router = APIRouter(prefix="/api/v1", tags=["jtel"])

#: What the event log holds: the STARFACE event types and the changes people make.
LOG_TYPES = [t.value for t in (*EventType, *ManualChange)]
LogType = Annotated[
    str | None,
    Query(pattern=f"^({'|'.join(LOG_TYPES)})$", json_schema_extra={"enum": LOG_TYPES}),
]
#: a UsersUID in a path: text any database can compare, no longer than a UsersUID can be
UsersUid = Annotated[str, Path(min_length=1, max_length=MAX_LOGIN), CLEAN]
ParameterName = Annotated[str, Path(min_length=1, max_length=200), CLEAN]
Limit = Annotated[int, Query(ge=1, le=1000)]

#: the refusals of an operation for signed-in users, and of one for administrators
SIGNED_IN = (401, *DATABASE)
ADMIN = (401, 403, *DATABASE)


@router.post(
    "/auth/login",
    response_model=TokenOut,
    tags=["auth"],
    responses=refusals(*BODY, 401, 429, *DATABASE, _401="wrong username or password"),
)
def login(body: LoginIn, services: Services, request: Request) -> TokenOut:
    try:
        token = services.accounts.sign_in(body.username, body.password, address=address_of(request))
    except LoginThrottled as exc:
        raise too_many(exc) from None
    if token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    return TokenOut(token=token)


@router.get(
    "/me",
    tags=["agent"],
    response_model=MeOut | BuiltinOut,
    responses=refusals(*SIGNED_IN, 404, _404="the user was deleted meanwhile"),
)
def me(principal: CurrentUser, services: Services) -> MeOut | BuiltinOut:
    if principal.username == SYSADMIN:
        return BuiltinOut(users_uid=SYSADMIN, admin=True, builtin=True)
    user = _user_or_404(services, principal.username)
    initial = services.accounts.initial_password(principal.username)
    return MeOut.model_validate({**user.model_dump(), "initial_password": initial})


@router.put(
    "/me/password",
    tags=["agent"],
    status_code=204,
    responses=refusals(
        *BODY,
        *SIGNED_IN,
        403,
        409,
        429,
        _403="the old password is wrong (this counts as a failed login)",
        _409="sysadmin's password is set by STARFACE_CONNECTOR_ADMIN_PASSWORD, not here",
        _422="the request cannot be read, or the new password is shorter than 8 characters",
    ),
)
def change_my_password(
    body: OwnPasswordIn, principal: CurrentUser, services: Services, request: Request
) -> None:
    """Change one's own password; every sign-in of the user ends, this token too (sign in
    again with the new password)."""
    if principal.username == SYSADMIN:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "sysadmin's password is set by STARFACE_CONNECTOR_ADMIN_PASSWORD, not here",
        )
    try:
        changed = services.accounts.change_own_password(
            principal.username,
            body.old_password,
            body.new_password,
            address=address_of(request),
        )
    except LoginThrottled as exc:
        raise too_many(exc) from None
    if not changed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the old password is wrong")


@router.put(
    "/me/acd-status",
    tags=["agent"],
    response_model=UserOut,
    responses=refusals(
        *BODY,
        *SIGNED_IN,
        404,
        409,
        _404="the user was deleted meanwhile",
        _409="sysadmin is not an agent",
    ),
)
def set_my_acd_status(body: AcdStatusIn, principal: CurrentUser, services: Services) -> UserOut:
    if principal.username == SYSADMIN:
        raise HTTPException(status.HTTP_409_CONFLICT, "sysadmin is not an agent")
    return _set_acd(services, principal.username, body, principal.username)


@router.get("/users", response_model=UserPageOut, responses=refusals(*ADMIN, 422))
def list_users(
    _: Admin,
    services: Services,
    search: Annotated[
        str,
        Query(
            max_length=200,
            description="part of the UsersUID, first or last name or e-mail address; "
            "upper and lower case are the same, accents are not",
        ),
        CLEAN,
    ] = "",
    limit: Limit = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
) -> UserPageOut:
    return UserPageOut.model_validate(
        services.views.users(search=search, limit=limit, offset=offset)
    )


@router.get("/users/{users_uid}", response_model=UserOut, responses=refusals(*ADMIN, 404, 422))
def get_user(users_uid: UsersUid, _: Admin, services: Services) -> UserOut:
    return _user_or_404(services, users_uid)


@router.put(
    "/users/{users_uid}/acd-status",
    response_model=UserOut,
    responses=refusals(*BODY, *ADMIN, 404),
)
def set_acd_status(
    users_uid: UsersUid, body: AcdStatusIn, principal: Admin, services: Services
) -> UserOut:
    return _set_acd(services, users_uid, body, principal.username)


@router.put("/users/{users_uid}/password", status_code=204, responses=refusals(*BODY, *ADMIN, 404))
def set_password(users_uid: UsersUid, body: PasswordIn, _: Admin, services: Services) -> None:
    if not services.accounts.set_user_password(users_uid, body.password):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {users_uid}")


@router.get("/groups", response_model=list[GroupOut], responses=refusals(*ADMIN))
def list_groups(_: Admin, services: Services) -> list[GroupOut]:
    return [GroupOut.model_validate(g) for g in services.views.groups()]


@router.get("/parameters", response_model=list[ParameterOut], responses=refusals(*ADMIN))
def list_parameters(_: Admin, services: Services) -> list[ParameterOut]:
    return [ParameterOut.model_validate(p) for p in services.admin.list_parameters()]


@router.get(
    "/parameters/changes",
    response_model=list[ParameterChangeOut],
    responses=refusals(*ADMIN, 422),
)
def parameter_changes(_: Admin, services: Services, limit: Limit = 100) -> list[ParameterChangeOut]:
    return [ParameterChangeOut.model_validate(c) for c in services.views.parameter_changes(limit)]


@router.put(
    "/parameters/{name}",
    response_model=ParameterOut,
    responses=refusals(
        *BODY,
        *ADMIN,
        404,
        _404="unknown parameter",
        _422="the value is not valid for the parameter (flags 0 or 1, seconds 10 to 86400), "
        "or the request cannot be read; nothing was changed",
    ),
)
def set_parameter(
    name: ParameterName, body: ParameterValueIn, principal: Admin, services: Services
) -> ParameterOut:
    if name not in SPECS_BY_NAME:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown parameter {name!r}")
    try:
        services.admin.set_parameter(name, body.value, actor=principal.username)
    except InvalidParameter as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    (current,) = [p for p in services.admin.list_parameters() if p.name == name]
    return ParameterOut.model_validate(current)


@router.get("/events", response_model=EventLogPageOut, responses=refusals(*ADMIN, 422))
def list_events(
    _: Admin,
    services: Services,
    login: Annotated[str | None, Query(min_length=1, max_length=MAX_LOGIN), CLEAN] = None,
    type: LogType = None,
    outcome: Outcome | None = None,
    limit: Limit = 100,
    after_id: Annotated[int | None, Query(alias="afterId", ge=0, le=MAX_BIGINT)] = None,
) -> EventLogPageOut:
    where = LogFilter(
        login=login,
        type=type,
        outcome=outcome.value if outcome else None,
    )
    items = services.views.event_log(where, limit=limit, after_id=after_id)
    return EventLogPageOut(items=[LogEntryOut.model_validate(e) for e in items])


@router.post(
    "/import",
    tags=["import"],
    response_model=ImportReportOut,
    responses=refusals(
        *ADMIN,
        409,
        422,
        502,
        _409="no STARFACE is configured, another import runs, or the import would delete more "
        "than the configured share of the jtel users without allowMassDelete=true",
    ),
)
def run_import(
    _: Admin,
    services: Services,
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
    allow_mass_delete: Annotated[bool, Query(alias="allowMassDelete")] = False,
) -> dict[str, Any]:
    """Import from STARFACE now; with dryRun=true only report the difference.

    An import that would delete more than the configured share of the jtel users (10 %)
    is refused (409) unless allowMassDelete=true. ``partial`` in the answer says that
    records were skipped or deletions withheld (the rest was imported)."""
    if services.pbx is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "no STARFACE configured: set STARFACE_CONNECTOR_STARFACE_URL, _LOGIN and _PASSWORD",
        )
    try:
        report = services.importer.run(
            services.pbx, dry_run=dry_run, trigger="api", allow_mass_delete=allow_mass_delete
        )
    except (ImportBusy, ImportRefused) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except PbxError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from None
    return report.as_json()


@router.get(
    "/imports",
    tags=["import"],
    response_model=list[ImportRunOut],
    responses=refusals(*ADMIN, 422),
)
def list_imports(
    _: Admin, services: Services, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[ImportRunOut]:
    return [ImportRunOut.model_validate(run) for run in services.views.imports(limit)]


def _user_or_404(services: Services, users_uid: str) -> UserOut:
    user = services.views.user(users_uid)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {users_uid}")
    return UserOut.model_validate(user)


def _set_acd(services: Services, users_uid: str, body: AcdStatusIn, actor: str) -> UserOut:
    if not services.admin.set_acd_status(users_uid, body.acd_status, actor=actor):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {users_uid}")
    return _user_or_404(services, users_uid)
