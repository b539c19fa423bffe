"""The events of the connector's ``/starface/v1`` contract, as the STARFACE module sends them.

These builders are the only place that writes an event dict. Event types and statuses are the
domain's enums (:mod:`starface_connector.domain.model`); on the wire they are their values.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ..domain.model import EventType, LoginStatus
from ..domain.pbx import PbxGroup, PbxUser

__all__ = [
    "WireEvent",
    "dnd_status_event",
    "group_update_event",
    "make_event",
    "new_event_id",
    "phone_status_event",
    "rfc3339",
    "user_delete_event",
    "user_status_event",
    "user_update_event",
]

#: One event as JSON: ``eventId``, ``occurredAt``, ``type`` and the type's own fields.
WireEvent = dict[str, Any]


def rfc3339(moment: datetime) -> str:
    """``occurredAt`` text: UTC with microseconds and ``Z``, as the contract's example."""
    if moment.tzinfo is None:
        raise ValueError("occurredAt needs a timezone-aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_event_id() -> str:
    """A globally unique event id (well under the contract's 128 characters)."""
    return f"sim-{uuid.uuid4()}"


def make_event(
    kind: EventType,
    body: dict[str, Any],
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> WireEvent:
    """The envelope every event shares: ``eventId``, ``occurredAt``, ``type``, then ``body``."""
    return {
        "eventId": event_id or new_event_id(),
        "occurredAt": rfc3339(occurred_at or datetime.now(UTC)),
        "type": EventType(kind).value,
        **body,
    }


def user_update_event(
    user: PbxUser, *, event_id: str | None = None, occurred_at: datetime | None = None
) -> WireEvent:
    """``USER_UPDATE``: the full profile, so the connector can create or update the user."""
    wire_user = {
        "login": user.login,
        "firstName": user.first_name,
        "familyName": user.family_name,
        "email": user.email,
        "language": user.language,
        "admin": user.admin,
        "phoneNumbers": list(user.phone_numbers),
    }
    return make_event(
        EventType.USER_UPDATE, {"user": wire_user}, event_id=event_id, occurred_at=occurred_at
    )


def user_delete_event(
    login: str, *, event_id: str | None = None, occurred_at: datetime | None = None
) -> WireEvent:
    """``USER_DELETE``: the user is gone from the PBX."""
    return make_event(
        EventType.USER_DELETE, {"login": login}, event_id=event_id, occurred_at=occurred_at
    )


def group_update_event(
    group: PbxGroup, *, event_id: str | None = None, occurred_at: datetime | None = None
) -> WireEvent:
    """``GROUP_UPDATE``: name and the complete member list (Login-IDs), id as the PBX has it."""
    wire_group = {"id": group.id, "name": group.name, "members": list(group.member_logins)}
    return make_event(
        EventType.GROUP_UPDATE, {"group": wire_group}, event_id=event_id, occurred_at=occurred_at
    )


def _resync(resync: bool) -> dict[str, bool]:
    return {"resync": True} if resync else {}


def user_status_event(
    login: str,
    status: LoginStatus,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    resync: bool = False,
) -> WireEvent:
    """``USER_STATUS``: the agent logged in to or out of its groups (``resync``: the state
    held now, reported when a session opens)."""
    return make_event(
        EventType.USER_STATUS,
        {"login": login, "status": LoginStatus(status).value, **_resync(resync)},
        event_id=event_id,
        occurred_at=occurred_at,
    )


def phone_status_event(
    login: str,
    status: str,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    resync: bool = False,
) -> WireEvent:
    """``PHONE_STATUS``: the state of the user's telephone, by the contract's name or the
    module's own (``AVAILABLE``, ``ACTIVE``, ...)."""
    return make_event(
        EventType.PHONE_STATUS,
        {"login": login, "status": str(status), **_resync(resync)},
        event_id=event_id,
        occurred_at=occurred_at,
    )


def dnd_status_event(
    login: str,
    enabled: bool,
    *,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    resync: bool = False,
) -> WireEvent:
    """``DND_STATUS``: do-not-disturb switched on or off."""
    return make_event(
        EventType.DND_STATUS,
        {"login": login, "enabled": bool(enabled), **_resync(resync)},
        event_id=event_id,
        occurred_at=occurred_at,
    )
