"""The simulated module's events without a connector: wire shapes and the event clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from starface_connector.domain.model import EventType, LoginStatus, PhoneStatus
from starface_connector.domain.pbx import PbxGroup, PbxUser
from starface_connector.simulation.traffic import EventClock
from starface_connector.simulation.wire import (
    dnd_status_event,
    group_update_event,
    phone_status_event,
    user_delete_event,
    user_status_event,
    user_update_event,
)

MOMENT = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)


def test_wire_events_carry_the_domain_values_as_plain_strings() -> None:
    user = PbxUser(1, "1001", "Jürgen", "Müller", "j@example.com", "de", True, ("20000",))
    group = PbxGroup(7, "Vertrieb", ("1001", "1002"))
    events = [
        user_update_event(user, event_id="e1", occurred_at=MOMENT),
        user_delete_event("1001", event_id="e2", occurred_at=MOMENT),
        group_update_event(group, event_id="e3", occurred_at=MOMENT),
        user_status_event("1001", LoginStatus.LOGGED_IN, event_id="e4", occurred_at=MOMENT),
        phone_status_event("1001", PhoneStatus.RINGING, event_id="e5", occurred_at=MOMENT),
        dnd_status_event("1001", True, event_id="e6", occurred_at=MOMENT, resync=True),
    ]
    assert [e["type"] for e in events] == [t.value for t in EventType]
    assert all(type(e["type"]) is str for e in events)
    head = '{"eventId": "e5", "occurredAt": "2026-03-01T12:30:05.123456Z", "type": "PHONE_STATUS"'
    assert (
        json.dumps(events[4], ensure_ascii=False)
        == head + ', "login": "1001", "status": "RINGING"}'
    )
    assert json.dumps(events[3]).endswith(
        '"type": "USER_STATUS", "login": "1001", "status": "LOGGED_IN"}'
    )
    assert events[0]["user"] == {
        "login": "1001",
        "firstName": "Jürgen",
        "familyName": "Müller",
        "email": "j@example.com",
        "language": "de",
        "admin": True,
        "phoneNumbers": ["20000"],
    }
    assert events[2]["group"] == {"id": 7, "name": "Vertrieb", "members": ["1001", "1002"]}
    assert json.dumps(events[5]).endswith(
        '"type": "DND_STATUS", "login": "1001", "enabled": true, "resync": true}'
    )


def test_event_clock_rises_strictly_even_when_now_stands_still_or_goes_back() -> None:
    readings = iter([MOMENT, MOMENT, MOMENT - timedelta(seconds=5), MOMENT + timedelta(seconds=1)])
    clock = EventClock(now=lambda: next(readings))
    stamps = [clock.stamp() for _ in range(4)]
    micro = timedelta(microseconds=1)
    assert stamps == [MOMENT, MOMENT + micro, MOMENT + 2 * micro, MOMENT + timedelta(seconds=1)]
    naive = EventClock(now=lambda: datetime(2026, 3, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        naive.stamp()
