"""Wire formats of both APIs, and the translation of STARFACE events into domain events."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, assert_never, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from ..domain.model import (
    DndStatusChange,
    Event,
    EventType,
    GroupUpdate,
    LoginStatus,
    Outcome,
    PhoneStatus,
    PhoneStatusChange,
    Profile,
    TelephonyState,
    UserDelete,
    UserStatusChange,
    UserUpdate,
    phone_status_of,
)
from ..domain.reasons import Why, note
from ..service.events import Incoming, Malformed

MAX_EVENTS = 1000
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it everywhere so all backends agree
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


NO_NUL = AfterValidator(_no_nul)
Login = Annotated[StrictStr, Field(min_length=1, max_length=128), NO_NUL]
Text = Annotated[StrictStr, Field(max_length=200), NO_NUL]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _EventBase(_Wire):
    event_id: Annotated[StrictStr, Field(alias="eventId", min_length=1, max_length=128), NO_NUL]
    occurred_at: Annotated[StrictStr, Field(alias="occurredAt")]

    @field_validator("occurred_at")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        if not RFC3339.match(value):
            raise ValueError("must be RFC 3339 with an offset, e.g. 2026-11-25T10:00:00Z")
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        except ValueError:
            raise ValueError("is not a valid date and time") from None
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range") from None
        return value

    def moment(self) -> datetime:
        return datetime.fromisoformat(self.occurred_at.replace("z", "Z").replace("t", "T"))


class WireUser(_Wire):
    login: Login
    first_name: Annotated[Text, Field(alias="firstName")]
    family_name: Annotated[Text, Field(alias="familyName")]
    email: Annotated[StrictStr, Field(max_length=320), NO_NUL]
    language: Annotated[StrictStr, Field(max_length=32), NO_NUL]
    admin: StrictBool
    phone_numbers: Annotated[
        list[Annotated[StrictStr, Field(max_length=64), NO_NUL]], Field(alias="phoneNumbers")
    ] = []


class WireUserUpdate(_EventBase):
    type: Literal[EventType.USER_UPDATE]
    user: WireUser


class WireUserDelete(_EventBase):
    type: Literal[EventType.USER_DELETE]
    login: Login


class WireGroup(_Wire):
    id: Annotated[StrictStr | StrictInt, Field()]
    name: Text
    members: list[Login]

    @field_validator("id")
    @classmethod
    def _id_text(cls, value: str | int) -> str | int:
        if isinstance(value, bool) or not str(value) or len(str(value)) > 128:
            raise ValueError("must be a string of 1 to 128 characters or an integer")
        _no_nul(str(value))
        return value


class WireGroupUpdate(_EventBase):
    type: Literal[EventType.GROUP_UPDATE]
    group: WireGroup


Resync = Annotated[
    StrictBool,
    Field(
        description="true: the module reports the state it holds now, as it does for every "
        "user when it opens a session; a state already held is 'applied' with 'no change', "
        "a newer event still wins"
    ),
]


class WireUserStatus(_EventBase):
    type: Literal[EventType.USER_STATUS]
    login: Login
    status: LoginStatus
    resync: Resync = False


#: The contract's telephone statuses, then the module's own states that are not among them.
PhoneStatusName = Literal[
    "IDLE", "RINGING", "BUSY", "OFFLINE", "QUEUE_PAUSE", "AVAILABLE", "ACTIVE", "UNAVAILABLE"
]
assert set(get_args(PhoneStatusName)) == {*PhoneStatus, *TelephonyState}


class WirePhoneStatus(_EventBase):
    type: Literal[EventType.PHONE_STATUS]
    login: Login
    status: Annotated[
        PhoneStatusName,
        Field(
            description="the contract's names, or the STARFACE module's own states: "
            "AVAILABLE=IDLE, RINGING, ACTIVE=BUSY, QUEUE_PAUSE, UNAVAILABLE=OFFLINE"
        ),
    ]
    resync: Resync = False


class WireDndStatus(_EventBase):
    type: Literal[EventType.DND_STATUS]
    login: Login
    enabled: StrictBool
    resync: Resync = False


AnyWireEvent = (
    WireUserUpdate
    | WireUserDelete
    | WireGroupUpdate
    | WireUserStatus
    | WirePhoneStatus
    | WireDndStatus
)
WireEvent = Annotated[AnyWireEvent, Field(discriminator="type")]
_EVENT: TypeAdapter[AnyWireEvent] = TypeAdapter(WireEvent)
EVENT_TYPES = tuple(EventType)


class EventBatch(BaseModel):
    """The envelope: 1 to 1000 events, each read on its own so one bad event spoils nothing.

    The schema shows every event type; the items are checked one by one by
    :func:`parse_event` (a malformed event is rejected alone), not by the envelope.
    """

    events: Annotated[
        list[Annotated[WireEvent, SkipValidation]], Field(min_length=1, max_length=MAX_EVENTS)
    ]


def to_domain(wire: AnyWireEvent) -> Event:
    match wire:
        case WireUserUpdate(user=u):
            return UserUpdate(
                wire.event_id,
                wire.moment(),
                u.login,
                Profile(u.first_name, u.family_name, u.email, u.language, tuple(u.phone_numbers)),
                u.admin,
            )
        case WireUserDelete():
            return UserDelete(wire.event_id, wire.moment(), wire.login)
        case WireGroupUpdate(group=g):
            return GroupUpdate(wire.event_id, wire.moment(), str(g.id), g.name, tuple(g.members))
        case WireUserStatus():
            return UserStatusChange(
                wire.event_id, wire.moment(), wire.login, wire.status, wire.resync
            )
        case WirePhoneStatus():
            status = phone_status_of(wire.status)
            original = "" if wire.status == status.value else wire.status
            return PhoneStatusChange(
                wire.event_id, wire.moment(), wire.login, status, original, wire.resync
            )
        case WireDndStatus():
            return DndStatusChange(
                wire.event_id, wire.moment(), wire.login, wire.enabled, wire.resync
            )
        case _:
            assert_never(wire)


def parse_event(raw: Any) -> Incoming:
    """A domain event, or a Malformed naming what is wrong in one readable line."""
    if not isinstance(raw, dict):
        return Malformed(None, None, None, (note(Why.MALFORMED, detail="not a JSON object"),))
    try:
        return to_domain(_EVENT.validate_python(raw))
    except ValidationError as exc:
        return Malformed(
            _short(raw.get("eventId"), 128),
            _short(raw.get("type"), 32),
            _login_of(raw),
            (note(Why.MALFORMED, detail=describe_errors(exc, raw)),),
        )


def describe_errors(exc: ValidationError, raw: dict[str, Any]) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        location = [str(p) for p in error["loc"]]
        if error["type"] == "union_tag_invalid" or error["type"] == "union_tag_not_found":
            kind = raw.get("type")
            parts.append(
                f"type {kind!r} is not one of {', '.join(EVENT_TYPES)}"
                if kind is not None
                else "type is missing"
            )
            continue
        if location and location[0] in EVENT_TYPES:
            location = location[1:]
        where = ".".join(location) or "event"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _login_of(raw: dict[str, Any]) -> str | None:
    user = raw.get("user")
    if isinstance(user, dict):
        return _short(user.get("login"), 128)
    return _short(raw.get("login"), 128)


def _short(value: Any, limit: int) -> str | None:
    """A raw field fit to be echoed and logged as is, or None."""
    if isinstance(value, str) and 0 < len(value) <= limit and "\x00" not in value:
        return value
    return None


class EventResultOut(_Wire):
    event_id: str | None = Field(serialization_alias="eventId")
    outcome: Outcome
    reason: str


class BatchResultOut(_Wire):
    results: list[EventResultOut]


class SessionIn(_Wire):
    login: Annotated[StrictStr, NO_NUL]
    password: StrictStr


class SessionOut(_Wire):
    session_id: str = Field(serialization_alias="sessionId")
    expires_in_seconds: int = Field(serialization_alias="expiresInSeconds")


class ErrorOut(BaseModel):
    """Every refusal: one readable line (422 also lists the places that are wrong)."""

    detail: str
    errors: list[dict[str, Any]] | None = None
