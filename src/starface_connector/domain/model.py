"""Plain data of the connector: the events STARFACE sends and the jtel state they change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AcdStatus(StrEnum):
    LOGGED_OFF = "LOGGED_OFF"
    CALLS_AND_MEDIA = "CALLS_AND_MEDIA"
    PAUSE = "PAUSE"


class PhoneStatus(StrEnum):
    IDLE = "IDLE"
    RINGING = "RINGING"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"


class LoginStatus(StrEnum):
    LOGGED_IN = "LOGGED_IN"
    LOGGED_OUT = "LOGGED_OUT"


class EventType(StrEnum):
    USER_UPDATE = "USER_UPDATE"
    USER_DELETE = "USER_DELETE"
    GROUP_UPDATE = "GROUP_UPDATE"
    USER_STATUS = "USER_STATUS"
    PHONE_STATUS = "PHONE_STATUS"


class Outcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    STALE = "stale"
    REJECTED = "rejected"


class Aspect(StrEnum):
    """Each aspect keeps its own clock: an older event of one aspect never undoes a newer one."""

    PROFILE = "profile"
    ACD_STATUS = "ACD status"
    PHONE_STATUS = "phone status"
    GROUP = "group"


class PasswordPolicy(StrEnum):
    """How the service sets a new user's first password (the domain never sees a password)."""

    USERS_UID = "users_uid"
    RANDOM = "random"


@dataclass(frozen=True)
class Profile:
    """The STARFACE-owned part of a jtel user."""

    first_name: str
    last_name: str
    email: str
    language: str
    phone_numbers: tuple[str, ...]


@dataclass(frozen=True)
class UserUpdate:
    event_id: str
    occurred_at: datetime
    login: str
    profile: Profile
    admin: bool
    type: EventType = EventType.USER_UPDATE


@dataclass(frozen=True)
class UserDelete:
    event_id: str
    occurred_at: datetime
    login: str
    type: EventType = EventType.USER_DELETE


@dataclass(frozen=True)
class GroupUpdate:
    event_id: str
    occurred_at: datetime
    group_id: str
    name: str
    members: tuple[str, ...]
    type: EventType = EventType.GROUP_UPDATE


@dataclass(frozen=True)
class UserStatusChange:
    event_id: str
    occurred_at: datetime
    login: str
    status: LoginStatus
    type: EventType = EventType.USER_STATUS


@dataclass(frozen=True)
class PhoneStatusChange:
    event_id: str
    occurred_at: datetime
    login: str
    status: PhoneStatus
    type: EventType = EventType.PHONE_STATUS


Event = UserUpdate | UserDelete | GroupUpdate | UserStatusChange | PhoneStatusChange


@dataclass(frozen=True)
class UserState:
    login: str
    profile: Profile
    admin: bool
    acd_status: AcdStatus = AcdStatus.LOGGED_OFF
    phone_status: PhoneStatus = PhoneStatus.OFFLINE
    profile_at: datetime | None = None
    acd_at: datetime | None = None
    phone_at: datetime | None = None


@dataclass(frozen=True)
class GroupState:
    group_id: str
    name: str
    members: tuple[str, ...]
    updated_at: datetime | None = None


# ---- changes: what a decision asks the storage to do -------------------------------------


@dataclass(frozen=True)
class CreateUser:
    login: str
    profile: Profile
    admin: bool
    password: PasswordPolicy


@dataclass(frozen=True)
class UpdateProfile:
    login: str
    profile: Profile
    changed: tuple[str, ...]


@dataclass(frozen=True)
class SetAdmin:
    login: str
    admin: bool


@dataclass(frozen=True)
class DeleteUser:
    login: str


@dataclass(frozen=True)
class SetAcdStatus:
    login: str
    old: AcdStatus
    new: AcdStatus


@dataclass(frozen=True)
class SetPhoneStatus:
    login: str
    old: PhoneStatus
    new: PhoneStatus


@dataclass(frozen=True)
class UpsertGroup:
    group_id: str
    name: str
    members: tuple[str, ...]
    created: bool


Change = (
    CreateUser | UpdateProfile | SetAdmin | DeleteUser | SetAcdStatus | SetPhoneStatus | UpsertGroup
)


@dataclass(frozen=True)
class Clock:
    """Which aspect clock an applied event advances."""

    aspect: Aspect
    key: str
    at: datetime


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    changes: tuple[Change, ...] = ()
    clock: Clock | None = None
