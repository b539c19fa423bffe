"""Small helpers shared by the HTTP API tests (no fixtures: those live in tests/conftest.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from starface_connector.storage.db import upgrade
from tests.conftest import Connector

P = "Portal.WebServices.Starface."
FLAGS = (
    "IgnoreGroupUpdate",
    "IgnoreUserDeletes",
    "IgnoreUserSecurity",
    "IgnoreUserStatus",
    "UserPasswordSetUID",
    "DndPausesAgent",
)
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """A moment ``seconds`` after T0 (the Connector helper's own clock starts at T0 too)."""
    return T0 + timedelta(seconds=seconds)


def result(event: dict[str, Any], outcome: str, reason: str) -> dict[str, Any]:
    """The result the connector must answer for ``event``."""
    return {"eventId": event["eventId"], "outcome": outcome, "reason": reason}


def event_log(c: Connector, **filters: Any) -> list[dict[str, Any]]:
    """GET /api/v1/events with the given filters; newest first."""
    response = c.admin("GET", "/api/v1/events", params=filters)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def users(c: Connector, **query: Any) -> dict[str, Any]:
    response = c.admin("GET", "/api/v1/users", params=query)
    assert response.status_code == 200, response.text
    listing: dict[str, Any] = response.json()
    return listing


def groups(c: Connector) -> list[dict[str, Any]]:
    response = c.admin("GET", "/api/v1/groups")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def can_log_in(c: Connector, username: str, password: str) -> bool:
    response = c.login(username, password)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def get_user(c: Connector, login: str) -> dict[str, Any]:
    """GET /api/v1/users/{login}; the user must exist."""
    found = c.user(login)
    assert found is not None, f"user {login} not found"
    return found


def upgrade_in_thread(engine: Engine) -> tuple[threading.Thread, list[BaseException | None]]:
    """A migration run in a thread not yet started; the list receives None, or what it raised."""
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            upgrade(engine)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    return threading.Thread(target=start), outcome
