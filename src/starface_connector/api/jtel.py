"""The jtel-side API (/api/v1): users, groups, parameters, the event log, imports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from ..domain.model import EventType, ManualChange, Outcome
from ..domain.parameters import SPECS_BY_NAME, InvalidParameter
from ..service.accounts import SYSADMIN
from ..service.errors import ImportBusy, ImportRefused, PbxError
from ..storage.views import LogFilter
from .deps import Admin, CurrentUser, Services
from .jtel_schemas import (
    AcdStatusIn,
    BuiltinOut,
    EventLogPageOut,
    GroupOut,
    ImportRunOut,
    LogEntryOut,
    LoginIn,
    ParameterChangeOut,
    ParameterOut,
    ParameterValueIn,
    PasswordIn,
    TokenOut,
    UserOut,
    UserPageOut,
)

router = APIRouter(prefix="/api/v1", tags=["jtel"])

#: What the event log holds: the STARFACE event types and the changes people make.
LOG_TYPES = [t.value for t in (*EventType, *ManualChange)]
LogType = Annotated[
    str | None,
    Query(pattern=f"^({'|'.join(LOG_TYPES)})$", json_schema_extra={"enum": LOG_TYPES}),
]


@router.post("/auth/login", response_model=TokenOut, tags=["auth"])
def login(body: LoginIn, services: Services) -> TokenOut:
    token = services.accounts.sign_in(body.username, body.password)
    if token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    return TokenOut(token=token)


@router.get("/me", tags=["agent"], response_model=UserOut | BuiltinOut)
def me(principal: CurrentUser, services: Services) -> UserOut | BuiltinOut:
    if principal.username == SYSADMIN:
        return BuiltinOut(users_uid=SYSADMIN, admin=True, builtin=True)
    return _user_or_404(services, principal.username)


@router.put("/me/acd-status", tags=["agent"], response_model=UserOut)
def set_my_acd_status(body: AcdStatusIn, principal: CurrentUser, services: Services) -> UserOut:
    if principal.username == SYSADMIN:
        raise HTTPException(status.HTTP_409_CONFLICT, "sysadmin is not an agent")
    return _set_acd(services, principal.username, body, principal.username)


@router.get("/users", response_model=UserPageOut)
def list_users(
    _: Admin,
    services: Services,
    search: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> UserPageOut:
    return UserPageOut.model_validate(
        services.views.users(search=search, limit=limit, offset=offset)
    )


@router.get("/users/{users_uid}", response_model=UserOut)
def get_user(users_uid: str, _: Admin, services: Services) -> UserOut:
    return _user_or_404(services, users_uid)


@router.put("/users/{users_uid}/acd-status", response_model=UserOut)
def set_acd_status(
    users_uid: str, body: AcdStatusIn, principal: Admin, services: Services
) -> UserOut:
    return _set_acd(services, users_uid, body, principal.username)


@router.put("/users/{users_uid}/password", status_code=204)
def set_password(users_uid: str, body: PasswordIn, _: Admin, services: Services) -> None:
    if not services.accounts.set_user_password(users_uid, body.password):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {users_uid}")


@router.get("/groups", response_model=list[GroupOut])
def list_groups(_: Admin, services: Services) -> list[GroupOut]:
    return [GroupOut.model_validate(g) for g in services.views.groups()]


@router.get("/parameters", response_model=list[ParameterOut])
def list_parameters(_: Admin, services: Services) -> list[ParameterOut]:
    return [ParameterOut.model_validate(p) for p in services.admin.list_parameters()]


@router.get("/parameters/changes", response_model=list[ParameterChangeOut])
def parameter_changes(
    _: Admin, services: Services, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ParameterChangeOut]:
    return [ParameterChangeOut.model_validate(c) for c in services.views.parameter_changes(limit)]


@router.put("/parameters/{name}", response_model=ParameterOut)
def set_parameter(
    name: str, body: ParameterValueIn, principal: Admin, services: Services
) -> ParameterOut:
    if name not in SPECS_BY_NAME:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown parameter {name!r}")
    try:
        services.admin.set_parameter(name, body.value, actor=principal.username)
    except InvalidParameter as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    (current,) = [p for p in services.admin.list_parameters() if p.name == name]
    return ParameterOut.model_validate(current)


@router.get("/events", response_model=EventLogPageOut)
def list_events(
    _: Admin,
    services: Services,
    login: str | None = None,
    type: LogType = None,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_id: Annotated[int | None, Query(alias="afterId", ge=0)] = None,
) -> EventLogPageOut:
    where = LogFilter(
        login=login,
        type=type,
        outcome=outcome.value if outcome else None,
    )
    items = services.views.event_log(where, limit=limit, after_id=after_id)
    return EventLogPageOut(items=[LogEntryOut.model_validate(e) for e in items])


@router.post("/import", tags=["import"])
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


@router.get("/imports", tags=["import"], response_model=list[ImportRunOut])
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
