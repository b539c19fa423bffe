"""Typed bodies of the jtel-side API (/api/v1), built from the read side's records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictStr

from ..domain.model import AcdStatus
from ..domain.text import MAX_LOGIN
from ..storage.views import iso
from .schemas import CLEAN, Password

#: a time as both APIs write it: RFC 3339, UTC, with a Z
UtcTime = Annotated[datetime, PlainSerializer(iso, return_type=str)]


class _Out(BaseModel):
    """A response body read straight from a read-side record (its attributes by name)."""

    model_config = ConfigDict(populate_by_name=True, from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class LoginIn(_In):
    username: Annotated[StrictStr, Field(max_length=MAX_LOGIN), CLEAN]
    password: Password


class TokenOut(_Out):
    token: str


class AcdStatusIn(_In):
    acd_status: AcdStatus = Field(alias="acdStatus")


class PasswordIn(_In):
    password: Annotated[StrictStr, Field(min_length=8, max_length=256), CLEAN]


class OwnPasswordIn(_In):
    old_password: Password = Field(alias="oldPassword")
    new_password: Annotated[StrictStr, Field(min_length=8, max_length=256), CLEAN] = Field(
        alias="newPassword"
    )


class ParameterValueIn(_In):
    value: Annotated[StrictStr, Field(max_length=64), CLEAN]


class UserOut(_Out):
    users_uid: str = Field(alias="usersUid")
    first_name: str = Field(alias="firstName")
    last_name: str = Field(alias="lastName")
    email: str
    language: str
    admin: bool
    phone_numbers: list[str] = Field(alias="phoneNumbers")
    acd_status: str = Field(alias="acdStatus")
    phone_status: str = Field(alias="phoneStatus")
    dnd: bool = Field(description="do-not-disturb, as STARFACE last reported it")
    groups: list[str]
    created_at: UtcTime | None = Field(alias="createdAt")
    updated_at: UtcTime | None = Field(alias="updatedAt")


class MeOut(UserOut):
    """The signed-in user, and whether they should choose a password of their own."""

    initial_password: bool = Field(
        alias="initialPassword",
        description="the password is still the initial one (the UsersUID): ask the user to "
        "change it (PUT /api/v1/me/password)",
    )


class BuiltinOut(_Out):
    """jtel's built-in sysadmin, who is no agent."""

    users_uid: str = Field(alias="usersUid")
    admin: bool
    builtin: bool
    initial_password: bool = Field(
        default=False,
        alias="initialPassword",
        description="always false: sysadmin's password is configured",
    )


class UserPageOut(_Out):
    items: list[UserOut]
    total: int


class GroupOut(_Out):
    id: str
    name: str
    members: list[str]
    updated_at: UtcTime | None = Field(alias="updatedAt")


class ParameterOut(_Out):
    name: str
    value: str
    default: str
    description: str


class ParameterChangeOut(_Out):
    changed_at: UtcTime | None = Field(alias="changedAt")
    name: str
    old_value: str = Field(alias="oldValue")
    new_value: str = Field(alias="newValue")
    actor: str


class LogEntryOut(_Out):
    id: int
    received_at: UtcTime | None = Field(alias="receivedAt")
    source: str
    event_id: str | None = Field(alias="eventId")
    type: str | None
    login: str | None
    group_id: str | None = Field(alias="groupId")
    occurred_at: UtcTime | None = Field(alias="occurredAt")
    outcome: str
    reason: str


class EventLogPageOut(_Out):
    items: list[LogEntryOut]


class ImportRunOut(_Out):
    id: int
    started_at: UtcTime | None = Field(alias="startedAt")
    finished_at: UtcTime | None = Field(alias="finishedAt")
    trigger: str
    dry_run: bool = Field(alias="dryRun")
    status: str
    summary: dict[str, Any] | None


class ImportUsersOut(_Out):
    created: list[str]
    updated: list[str]
    deleted: list[str]
    unchanged: int


class ImportGroupsOut(_Out):
    created: list[str]
    updated: list[str]
    unchanged: int


class SkippedRecordOut(_Out):
    """A record STARFACE sent that could not be read; it was left out."""

    kind: str = Field(description="user or group")
    id: int | None
    login: str | None
    reason: str


class ImportDetailOut(_Out):
    subject: str = Field(description="the UsersUID or group id")
    outcome: str = Field(description="changed, stale or rejected")
    reason: str


class ImportReportOut(_Out):
    """What an import did (or, with dryRun=true, would do)."""

    dry_run: bool = Field(alias="dryRun")
    taken_at: str = Field(alias="takenAt", description="when STARFACE was read (RFC 3339)")
    changes: int
    users: ImportUsersOut
    groups: ImportGroupsOut
    ignored: dict[str, int] = Field(
        description="per parameter: how many users or groups it kept from jtel"
    )
    stale: list[str]
    rejected: list[str] = Field(
        description="users and groups refused, e.g. a Login-ID no UsersUID may be; the reason "
        "is in details"
    )
    partial: bool = Field(description="records were skipped or deletions withheld")
    deletes_withheld: str | None = Field(alias="deletesWithheld")
    skipped: list[SkippedRecordOut]
    groups_gone: list[str] = Field(alias="groupsGone")
    refusal: str | None
    details: list[ImportDetailOut]
