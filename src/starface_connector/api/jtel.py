"""The jtel-side API (/api/v1): users, groups, parameters, the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status

from ..domain.model import Outcome
from ..domain.parameters import SPECS_BY_NAME, InvalidParameter
from ..service import admin as admin_service
from ..service.accounts import SYSADMIN, api_login, set_user_password
from ..service.importer import ImportBusy
from ..starface.errors import StarfaceError
from ..storage import queries
from .deps import Admin, CurrentUser, Factory
from .schemas import (
    AcdStatusIn,
    LoginIn,
    ParameterOut,
    ParameterValueIn,
    PasswordIn,
    TokenOut,
)

router = APIRouter(prefix="/api/v1", tags=["jtel"])

# What the audit log holds: the STARFACE event types and manual ACD status changes.
AuditType = Literal[
    "USER_UPDATE", "USER_DELETE", "GROUP_UPDATE", "USER_STATUS", "PHONE_STATUS", "ACD_STATUS_SET"
]


@router.post("/auth/login", response_model=TokenOut, tags=["auth"])
def login(body: LoginIn, factory: Factory) -> TokenOut:
    token = api_login(factory, body.username, body.password)
    if token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    return TokenOut(token=token)


@router.get("/me", tags=["agent"])
def me(principal: CurrentUser, factory: Factory) -> dict[str, Any]:
    if principal.username == SYSADMIN:
        return {"usersUid": SYSADMIN, "admin": True, "builtin": True}
    return _user_or_404(factory, principal.username)


@router.put("/me/acd-status", tags=["agent"])
def set_my_acd_status(
    body: AcdStatusIn, principal: CurrentUser, factory: Factory
) -> dict[str, Any]:
    if principal.username == SYSADMIN:
        raise HTTPException(status.HTTP_409_CONFLICT, "sysadmin is not an agent")
    return _set_acd(factory, principal.username, body, principal.username)


@router.get("/users")
def list_users(
    _: Admin,
    factory: Factory,
    search: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    with factory() as session:
        return queries.list_users(session, search=search, limit=limit, offset=offset)


@router.get("/users/{users_uid}")
def get_user(users_uid: str, _: Admin, factory: Factory) -> dict[str, Any]:
    return _user_or_404(factory, users_uid)


@router.put("/users/{users_uid}/acd-status")
def set_acd_status(
    users_uid: str, body: AcdStatusIn, principal: Admin, factory: Factory
) -> dict[str, Any]:
    return _set_acd(factory, users_uid, body, principal.username)


@router.put("/users/{users_uid}/password", status_code=204)
def set_password(users_uid: str, body: PasswordIn, _: Admin, factory: Factory) -> None:
    if not set_user_password(factory, users_uid, body.password):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {users_uid}")


@router.get("/groups")
def list_groups(_: Admin, factory: Factory) -> list[dict[str, Any]]:
    with factory() as session:
        return queries.list_groups(session)


@router.get("/parameters", response_model=list[ParameterOut])
def list_parameters(_: Admin, factory: Factory) -> list[ParameterOut]:
    return [
        ParameterOut(name=p.name, value=p.value, default=p.default, description=p.description)
        for p in admin_service.list_parameters(factory)
    ]


@router.get("/parameters/changes")
def parameter_changes(
    _: Admin, factory: Factory, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    with factory() as session:
        return queries.list_parameter_changes(session, limit)


@router.put("/parameters/{name}", response_model=ParameterOut)
def set_parameter(
    name: str, body: ParameterValueIn, principal: Admin, factory: Factory
) -> ParameterOut:
    if name not in SPECS_BY_NAME:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown parameter {name!r}")
    try:
        admin_service.set_parameter(factory, name, body.value, actor=principal.username)
    except InvalidParameter as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    current = {p.name: p for p in admin_service.list_parameters(factory)}[name]
    return ParameterOut(
        name=current.name,
        value=current.value,
        default=current.default,
        description=current.description,
    )


@router.get("/events")
def list_events(
    _: Admin,
    factory: Factory,
    login: str | None = None,
    type: AuditType | None = None,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_id: Annotated[int | None, Query(alias="afterId", ge=0)] = None,
) -> dict[str, Any]:
    with factory() as session:
        items = queries.list_events(
            session,
            login=login,
            event_type=type,
            outcome=outcome.value if outcome else None,
            limit=limit,
            after_id=after_id,
        )
    return {"items": items}


@router.post("/import", tags=["import"])
def run_import(
    request: Request,
    _: Admin,
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
) -> dict[str, Any]:
    """Import from STARFACE now; with dryRun=true only report the difference."""
    fetch = request.app.state.pbx_fetch
    if fetch is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "no STARFACE configured: set STARFACE_CONNECTOR_STARFACE_URL, _LOGIN and _PASSWORD",
        )
    try:
        report = request.app.state.importer.run(fetch, dry_run=dry_run, trigger="api")
    except ImportBusy as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except StarfaceError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, str(exc)) from None
    return report.as_json()


@router.get("/imports", tags=["import"])
def list_imports(
    _: Admin, factory: Factory, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[dict[str, Any]]:
    with factory() as session:
        return queries.list_imports(session, limit)


def _user_or_404(factory: Factory, users_uid: str) -> dict[str, Any]:
    with factory() as session:
        user = queries.get_user(session, users_uid)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {users_uid}")
    return user


def _set_acd(factory: Factory, users_uid: str, body: AcdStatusIn, actor: str) -> dict[str, Any]:
    if not admin_service.set_acd_status(factory, users_uid, body.acd_status, actor=actor):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {users_uid}")
    return _user_or_404(factory, users_uid)
