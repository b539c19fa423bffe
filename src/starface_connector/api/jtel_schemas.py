"""Typed bodies of the jtel-side API (/api/v1), built from the read side's records."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from ..domain.model import AcdStatus
from ..service.admin import ParameterView
from ..storage.views import (
    GroupView,
    ImportRunView,
    LogEntryView,
    ParameterChangeView,
    UserPage,
    UserView,
    iso,
)
from .schemas import NO_NUL


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


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
    groups: list[str]
    created_at: str | None = Field(alias="createdAt")
    updated_at: str | None = Field(alias="updatedAt")

    @classmethod
    def of(cls, user: UserView) -> UserOut:
        return cls(
            users_uid=user.users_uid,
            first_name=user.first_name,
            last_name=user.last_name,
            email=user.email,
            language=user.language,
            admin=user.admin,
            phone_numbers=list(user.phone_numbers),
            acd_status=user.acd_status,
            phone_status=user.phone_status,
            groups=list(user.groups),
            created_at=iso(user.created_at),
            updated_at=iso(user.updated_at),
        )


class BuiltinOut(_Out):
    """jtel's built-in sysadmin, who is no agent."""

    users_uid: str = Field(alias="usersUid")
    admin: bool
    builtin: bool


class UserPageOut(_Out):
    items: list[UserOut]
    total: int

    @classmethod
    def of(cls, page: UserPage) -> UserPageOut:
        return cls(items=[UserOut.of(u) for u in page.items], total=page.total)


class GroupOut(_Out):
    id: str
    name: str
    members: list[str]
    updated_at: str | None = Field(alias="updatedAt")

    @classmethod
    def of(cls, group: GroupView) -> GroupOut:
        return cls(
            id=group.id,
            name=group.name,
            members=list(group.members),
            updated_at=iso(group.updated_at),
        )


class ParameterOut(_Out):
    name: str
    value: str
    default: str
    description: str

    @classmethod
    def of(cls, view: ParameterView) -> ParameterOut:
        return cls(
            name=view.name, value=view.value, default=view.default, description=view.description
        )


class ParameterChangeOut(_Out):
    changed_at: str | None = Field(alias="changedAt")
    name: str
    old_value: str = Field(alias="oldValue")
    new_value: str = Field(alias="newValue")
    actor: str

    @classmethod
    def of(cls, change: ParameterChangeView) -> ParameterChangeOut:
        return cls(
            changed_at=iso(change.changed_at),
            name=change.name,
            old_value=change.old_value,
            new_value=change.new_value,
            actor=change.actor,
        )


class LogEntryOut(_Out):
    id: int
    received_at: str | None = Field(alias="receivedAt")
    source: str
    event_id: str | None = Field(alias="eventId")
    type: str | None
    login: str | None
    group_id: str | None = Field(alias="groupId")
    occurred_at: str | None = Field(alias="occurredAt")
    outcome: str
    reason: str

    @classmethod
    def of(cls, entry: LogEntryView) -> LogEntryOut:
        return cls(
            id=entry.id,
            received_at=iso(entry.received_at),
            source=entry.source,
            event_id=entry.event_id,
            type=entry.type,
            login=entry.login,
            group_id=entry.group_id,
            occurred_at=iso(entry.occurred_at),
            outcome=entry.outcome,
            reason=entry.reason,
        )


class EventLogPageOut(_Out):
    items: list[LogEntryOut]


class ImportRunOut(_Out):
    id: int
    started_at: str | None = Field(alias="startedAt")
    finished_at: str | None = Field(alias="finishedAt")
    trigger: str
    dry_run: bool = Field(alias="dryRun")
    status: str
    summary: dict[str, Any] | None

    @classmethod
    def of(cls, run: ImportRunView) -> ImportRunOut:
        return cls(
            id=run.id,
            started_at=iso(run.started_at),
            finished_at=iso(run.finished_at),
            trigger=run.trigger,
            dry_run=run.dry_run,
            status=run.status,
            summary=run.summary,
        )
