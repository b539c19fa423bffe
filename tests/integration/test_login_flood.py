"""A login flood against a real server (issue 8, part 5): 32 clients loop wrong logins over the
three login routes while the STARFACE module keeps sending event batches.

What must hold is a property, not a speed (speed is in ``python -m bench flood``): every batch
is answered 200 with the right outcomes; past ten failures the flood gets 429 with
Retry-After; the lockout is in the event log; and argon2 ran exactly once per failure that
counted (ten), not once per attempt. The connector's clock stands still, so the lockout
cannot run out while the flood lasts; it is moved on by hand afterwards.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from starface_connector.api.app import create_app
from starface_connector.serving import run_in_thread
from starface_connector.web.session import LOGIN_CSRF_COOKIE
from tests.conftest import (
    ADMIN_PASSWORD,
    MODULE_LOGIN,
    MODULE_PASSWORD,
    open_container,
    scratch_database,
    settings_for,
)

CLIENTS = 32
BATCHES = 40
BATCH_SIZE = 20


class StillClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def wrong_login(http: httpx.Client, url: str, route: int, who: str) -> httpx.Response:
    if route == 0:
        return http.post(f"{url}/api/v1/auth/login", json={"username": who, "password": "x"})
    if route == 1:
        return http.post(f"{url}/starface/v1/session", json={"login": who, "password": "x"})
    return http.post(
        f"{url}/login",
        data={"username": who, "password": "x", "csrf": "t"},
        headers={"Cookie": f"{LOGIN_CSRF_COOKIE}=t"},
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_a_login_flood_is_throttled_while_event_batches_go_on(backend: str, tmp_path: Path) -> None:
    clock = StillClock()
    with scratch_database(backend, tmp_path) as url:
        container = open_container(settings_for(url), clock)
        try:
            with run_in_thread(create_app(container)) as base, httpx.Client(timeout=60) as http:
                flood(container, clock, base, http)
        finally:
            container.close()


def flood(container: object, clock: StillClock, base: str, http: httpx.Client) -> None:
    from starface_connector.bootstrap import Container

    assert isinstance(container, Container)
    # the module and the administrator sign in first: the flood comes from their address
    opened = http.post(
        f"{base}/starface/v1/session", json={"login": MODULE_LOGIN, "password": MODULE_PASSWORD}
    )
    assert opened.status_code == 200, opened.text
    session = {"X-Session-Id": opened.json()["sessionId"]}
    login = http.post(
        f"{base}/api/v1/auth/login", json={"username": "sysadmin", "password": ADMIN_PASSWORD}
    )
    admin = {"Authorization": f"Bearer {login.json()['token']}"}
    logins = [f"{7000 + n}" for n in range(BATCH_SIZE)]
    created = http.post(
        f"{base}/starface/v1/events",
        json={"events": [user_update(login, n) for n, login in enumerate(logins)]},
        headers=session,
    )
    assert {r["outcome"] for r in created.json()["results"]} == {"applied"}, created.text
    verified = container.hasher.verifications

    stop = threading.Event()
    answers: list[list[httpx.Response]] = [[] for _ in range(CLIENTS)]

    def attack(n: int) -> None:
        with httpx.Client(timeout=60) as own:
            attempt = 0
            while not stop.is_set() or attempt < 6:
                who = f"flood{n}-{attempt % 4}"
                answers[n].append(wrong_login(own, base, (n + attempt) % 3, who))
                attempt += 1

    threads = [threading.Thread(target=attack, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    batches: list[httpx.Response] = []
    statuses = ("BUSY", "IDLE")
    try:
        for b in range(BATCHES):
            events = [
                phone_status(f"b{b}-{n}", login, statuses[b % 2], b)
                for n, login in enumerate(logins)
            ]
            batches.append(
                http.post(f"{base}/starface/v1/events", json={"events": events}, headers=session)
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    for batch in batches:
        assert batch.status_code == 200, batch.text
        assert [r["outcome"] for r in batch.json()["results"]] == ["applied"] * BATCH_SIZE
    users = http.get(f"{base}/api/v1/users", params={"search": "70"}, headers=admin).json()
    assert {u["phoneStatus"] for u in users["items"]} == {statuses[(BATCHES - 1) % 2]}

    every = [a for thread in answers for a in thread]
    codes = Counter(a.status_code for a in every)
    assert set(codes) == {401, 429}, codes
    assert codes[401] == 10, codes  # ten failures counted, everything after refused
    assert container.hasher.verifications - verified == 10  # argon2 once per failure only
    refused = [a for a in every if a.status_code == 429]
    assert all(1 <= int(a.headers["Retry-After"]) <= 30 for a in refused)
    assert min(len(thread) for thread in answers) >= 6
    log = http.get(
        f"{base}/api/v1/events", params={"type": "LOGIN_THROTTLED"}, headers=admin
    ).json()["items"]
    assert [e["reason"] for e in log] == [
        "logins from 127.0.0.1 refused for 30 s: 10 failed logins"
    ]

    # the lockout ends, one more failure doubles it
    clock.advance(30)
    assert wrong_login(http, base, 0, "late").status_code == 401
    again = wrong_login(http, base, 1, "late")
    assert (again.status_code, again.headers["Retry-After"]) == (429, "60")


def user_update(login: str, n: int) -> dict[str, object]:
    return {
        "eventId": f"create-{login}",
        "occurredAt": stamp(0, n),
        "type": "USER_UPDATE",
        "user": {
            "login": login,
            "firstName": "Flood",
            "familyName": login,
            "email": f"{login}@example.com",
            "language": "de",
            "admin": False,
            "phoneNumbers": [],
        },
    }


def phone_status(event_id: str, login: str, status: str, batch: int) -> dict[str, object]:
    return {
        "eventId": event_id,
        "occurredAt": stamp(batch + 1, 0),
        "type": "PHONE_STATUS",
        "login": login,
        "status": status,
    }


def stamp(minute: int, second: int) -> str:
    moment = datetime(2026, 1, 1, 8, tzinfo=UTC) + timedelta(minutes=minute, seconds=second)
    return moment.isoformat().replace("+00:00", "Z")
