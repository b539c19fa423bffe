"""Wire formats of both APIs, and the translation of STARFACE events into domain events."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar, assert_never, get_args

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
from ..domain.text import MAX_LOGIN, login_problem, text_problem
from ..service.events import Incoming, Malformed

MAX_EVENTS = 1000
_T = TypeVar("_T")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _clean(value: _T) -> _T:
    """Text every database stores alike: no NUL (PostgreSQL refuses it), no lone surrogate
    (no driver can encode it); refused at intake so all backends agree. Not text (an absent
    optional value) passes."""
    problem = text_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValueError(problem)
    return value


CLEAN = AfterValidator(_clean)
Login = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=MAX_LOGIN,
        description="the STARFACE Login-ID (jtel UsersUID): no '/', no control characters, "
        "no leading or trailing space, not '.' or '..'; an event naming another is rejected",
    ),
    CLEAN,
]
Text = Annotated[StrictStr, Field(max_length=200), CLEAN]
#: a password as typed: any text a database could hold, within reason for argon2
Password = Annotated[StrictStr, Field(max_length=1024), CLEAN]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _EventBase(_Wire):
    event_id: Annotated[StrictStr, Field(alias="eventId", min_length=1, max_length=128), CLEAN]
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
    email: Annotated[StrictStr, Field(max_length=320), CLEAN]
    language: Annotated[StrictStr, Field(max_length=32), CLEAN]
    admin: StrictBool
    phone_numbers: Annotated[
        list[Annotated[StrictStr, Field(max_length=64), CLEAN]], Field(alias="phoneNumbers")
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
        _clean(str(value))
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
        event = to_domain(_EVENT.validate_python(raw))
    except ValidationError as exc:
        return Malformed(
            _short(raw.get("eventId"), 128),
            _short(raw.get("type"), 32),
            _login_of(raw),
            (note(Why.MALFORMED, detail=describe_errors(exc, raw)),),
        )
    return refuse_invalid_logins(event)


def refuse_invalid_logins(event: Event) -> Incoming:
    """The event, or a Malformed if it names a login no UsersUID may be (the login rule of
    :func:`~starface_connector.domain.text.login_problem`): such a user could never be reached
    at ``/api/v1/users/{usersUid}``."""
    for login in event.logins:
        problem = login_problem(login)
        if problem is not None:
            return Malformed(
                event.event_id,
                event.type.value,
                event.login,
                (note(Why.INVALID_LOGIN, login=login, problem=problem.value),),
            )
    return event


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
        parts.append(f"{where}: {error_message(error)}")
    return "; ".join(parts)


def error_message(error: Any) -> str:
    """A validation error's message, in our words where pydantic's are obscure."""
    if error.get("type") == "string_unicode":  # a lone surrogate, e.g. "\ud800" in JSON
        return "must not contain an unpaired surrogate (not valid Unicode text)"
    return str(error.get("msg", "")).removeprefix("Value error, ")


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
    login: Annotated[StrictStr, Field(max_length=MAX_LOGIN), CLEAN]
    password: Password


class SessionOut(_Wire):
    session_id: str = Field(serialization_alias="sessionId")
    expires_in_seconds: int = Field(serialization_alias="expiresInSeconds")


class ErrorPlace(BaseModel):
    """One place a request is wrong: where (``["query", "limit"]``, ``["body", "events"]``)
    and what is wrong there, in words. The input is never echoed back."""

    loc: list[str | int]
    msg: str


class ErrorOut(BaseModel):
    """Every refusal of both APIs, 400 to 503: one readable line in ``detail``; a request that
    cannot be read (422) also lists the places that are wrong in ``errors``."""

    detail: str = Field(description="what went wrong, in one line for a person")
    errors: list[ErrorPlace] | None = Field(
        default=None, description="422 only: every place the request is wrong"
    )


class ReadyOut(BaseModel):
    """Whether this instance can serve: the database answers and its schema is current."""

    model_config = ConfigDict(populate_by_name=True)

    status: Literal["ready", "not ready"]
    database: str = Field(description="ok or unreachable")
    schema_: str = Field(alias="schema", description="current, or the revision found")
    parameter_problems: list[str] = Field(
        alias="parameterProblems",
        description="stored parameter values that do not validate (their standard is used)",
    )
