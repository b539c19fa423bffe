"""Typed bodies of the jtel-side API (/api/v1), built from the read side's records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictStr

from ..domain.model import AcdStatus
from ..storage.views import iso
from .schemas import NO_NUL

#: a time as both APIs write it: RFC 3339, UTC, with a Z
UtcTime = Annotated[datetime, PlainSerializer(iso, return_type=str)]


class _Out(BaseModel):
    """A response body read straight from a read-side record (its attributes by name)."""

    model_config = ConfigDict(populate_by_name=True, from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class LoginIn(_In):
    username: Annotated[StrictStr, NO_NUL]
    password: StrictStr


class TokenOut(_Out):
    token: str


class AcdStatusIn(_In):
    acd_status: AcdStatus = Field(alias="acdStatus")


class PasswordIn(_In):
    password: Annotated[StrictStr, Field(min_length=8, max_length=256)]


class ParameterValueIn(_In):
    value: StrictStr


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


class BuiltinOut(_Out):
    """jtel's built-in sysadmin, who is no agent."""

    users_uid: str = Field(alias="usersUid")
    admin: bool
    builtin: bool


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
