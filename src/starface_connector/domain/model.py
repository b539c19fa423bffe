"""Plain data of the connector: the events STARFACE sends and the jtel state they change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from .reasons import Note, english


class AcdStatus(StrEnum):
    LOGGED_OFF = "LOGGED_OFF"
    CALLS_AND_MEDIA = "CALLS_AND_MEDIA"
    PAUSE = "PAUSE"


class PhoneStatus(StrEnum):
    IDLE = "IDLE"
    RINGING = "RINGING"
    BUSY = "BUSY"
    OFFLINE = "OFFLINE"
    #: the agent paused in a STARFACE queue: a telephone status of its own
    QUEUE_PAUSE = "QUEUE_PAUSE"


class TelephonyState(StrEnum):
    """The states a STARFACE module sees in ``TelephonyStateChangedEvent``.

    ``PHONE_STATUS`` accepts them beside the contract's own names; :data:`TELEPHONY_STATES`
    is the one table that maps them (docs/starface-module.md prints it).
    """

    AVAILABLE = "AVAILABLE"
    RINGING = "RINGING"
    ACTIVE = "ACTIVE"
    QUEUE_PAUSE = "QUEUE_PAUSE"
    UNAVAILABLE = "UNAVAILABLE"


TELEPHONY_STATES: dict[TelephonyState, PhoneStatus] = {
    TelephonyState.AVAILABLE: PhoneStatus.IDLE,
    TelephonyState.RINGING: PhoneStatus.RINGING,
    TelephonyState.ACTIVE: PhoneStatus.BUSY,
    TelephonyState.QUEUE_PAUSE: PhoneStatus.QUEUE_PAUSE,
    TelephonyState.UNAVAILABLE: PhoneStatus.OFFLINE,
}


def phone_status_of(name: str) -> PhoneStatus:
    """The telephone status of a contract name (IDLE, ...) or a module state (AVAILABLE, ...)."""
    if name in PhoneStatus.__members__:
        return PhoneStatus(name)
    return TELEPHONY_STATES[TelephonyState(name)]


class LoginStatus(StrEnum):
    LOGGED_IN = "LOGGED_IN"
    LOGGED_OUT = "LOGGED_OUT"


class EventType(StrEnum):
    """The one list of STARFACE event types: wire schemas, filters and the pusher derive
    from it. How to add one is written down in the README's architecture section."""

    USER_UPDATE = "USER_UPDATE"
    USER_DELETE = "USER_DELETE"
    GROUP_UPDATE = "GROUP_UPDATE"
    USER_STATUS = "USER_STATUS"
    PHONE_STATUS = "PHONE_STATUS"
    DND_STATUS = "DND_STATUS"


class ManualChange(StrEnum):
    """Event log entries that did not come from STARFACE: changes made by people."""

    ACD_STATUS_SET = "ACD_STATUS_SET"
    PARAMETER_SET = "PARAMETER_SET"
    #: too many failed logins: an address or an account is refused for a while
    LOGIN_THROTTLED = "LOGIN_THROTTLED"


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
    DND = "DND status"
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


class _AboutUser:
    """An event about one user: that user is its subject and the only login it touches."""

    login: str

    @property
    def group_id(self) -> None:
        return None

    @property
    def subject(self) -> str:
        return self.login

    @property
    def logins(self) -> tuple[str, ...]:
        return (self.login,)


@dataclass(frozen=True)
class UserUpdate(_AboutUser):
    event_id: str
    occurred_at: datetime
    login: str
    profile: Profile
    admin: bool
    type: ClassVar[EventType] = EventType.USER_UPDATE


@dataclass(frozen=True)
class UserDelete(_AboutUser):
    event_id: str
    occurred_at: datetime
    login: str
    type: ClassVar[EventType] = EventType.USER_DELETE


@dataclass(frozen=True)
class GroupUpdate:
    event_id: str
    occurred_at: datetime
    group_id: str
    name: str
    members: tuple[str, ...]
    type: ClassVar[EventType] = EventType.GROUP_UPDATE

    @property
    def login(self) -> None:
        return None

    @property
    def subject(self) -> str:
        return self.group_id

    @property
    def logins(self) -> tuple[str, ...]:
        return self.members


@dataclass(frozen=True)
class UserStatusChange(_AboutUser):
    event_id: str
    occurred_at: datetime
    login: str
    status: LoginStatus
    #: sent by the module when it opens a session: the state it holds now (see the guide)
    resync: bool = False
    type: ClassVar[EventType] = EventType.USER_STATUS


@dataclass(frozen=True)
class PhoneStatusChange(_AboutUser):
    event_id: str
    occurred_at: datetime
    login: str
    status: PhoneStatus
    #: the name the module sent when it differs from ``status`` (AVAILABLE, ACTIVE, ...)
    original: str = ""
    resync: bool = False
    type: ClassVar[EventType] = EventType.PHONE_STATUS


@dataclass(frozen=True)
class DndStatusChange(_AboutUser):
    """Do-not-disturb switched on or off on the user's STARFACE account."""

    event_id: str
    occurred_at: datetime
    login: str
    enabled: bool
    resync: bool = False
    type: ClassVar[EventType] = EventType.DND_STATUS


Event = (
    UserUpdate | UserDelete | GroupUpdate | UserStatusChange | PhoneStatusChange | DndStatusChange
)


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
    dnd: bool = False
    dnd_at: datetime | None = None
    #: the PAUSE was set by STARFACE (QUEUE_PAUSE or DND), so leaving that state resumes
    acd_paused_by_pbx: bool = False


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
    #: whether STARFACE set this status as a pause (it then also ends it)
    paused_by_pbx: bool = False


@dataclass(frozen=True)
class SetDnd:
    login: str
    enabled: bool


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
    CreateUser
    | UpdateProfile
    | SetAdmin
    | DeleteUser
    | SetAcdStatus
    | SetPhoneStatus
    | SetDnd
    | UpsertGroup
)


@dataclass(frozen=True)
class Clock:
    """Which aspect clock an applied event advances."""

    aspect: Aspect
    key: str
    at: datetime


@dataclass(frozen=True)
class Decision:
    """What an event does and why.

    ``withheld`` names the parameters that kept part of an applied event from taking effect
    (e.g. the admin flag under IgnoreUserSecurity=1), so callers count from data, not text.
    """

    outcome: Outcome
    notes: tuple[Note, ...]
    changes: tuple[Change, ...] = ()
    clock: Clock | None = None
    withheld: tuple[str, ...] = ()
    #: the ACD clock, when a phone or DND event also changed the ACD status
    acd_clock: Clock | None = None

    @property
    def reason(self) -> str:
        return english(self.notes)
