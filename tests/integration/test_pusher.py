"""The simulated STARFACE module (EventPusher) against a real connector on a real database.

Nothing of the connector is mocked. Where a test needs to see or spoil the traffic, the pusher
talks to a small HTTP proxy (:class:`WireTap`) that forwards every request to the real
connector and records what went over the wire; it can spoil the answer to the first event
batch *after* the connector committed it, which is exactly the case the eventId idempotency is
for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from starface_connector.api.app import create_app
from starface_connector.bootstrap import Container
from starface_connector.serving import run_in_thread
from starface_connector.simulation import EventPusher, PushError, SimulatedPbx
from tests.conftest import MODULE_LOGIN, MODULE_PASSWORD, Connector, MovableClock, reset

USERS = 20
GROUPS = 3
OFFSET_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$")
# The call cycle as a PBX reports it, written out independently of the pusher's code.
PHONE_STEPS = {
    "OFFLINE": {"IDLE"},
    "IDLE": {"RINGING", "OFFLINE"},
    "RINGING": {"BUSY", "IDLE"},
    "BUSY": {"IDLE"},
}
PUSHER_LOGGER = "starface_connector.simulation"
ACD_FOR_LOGIN = {"LOGGED_IN": "CALLS_AND_MEDIA", "LOGGED_OUT": "LOGGED_OFF"}


class FakeClock:
    """Virtual time for the pusher: a wait returns at once and moves the clock on by its length.

    Every wait is recorded. From the ``hold_at``-th wait on, a wait blocks until the pusher is
    stopped instead, which parks a background pusher where the test wants it (``holding`` is
    set when it gets there).
    """

    def __init__(self, hold_at: int | None = None) -> None:
        self.time = 0.0
        self.waits: list[float] = []
        self.holding = threading.Event()
        self._hold_at = hold_at

    def monotonic(self) -> float:
        return self.time

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        if self._hold_at is not None and len(self.waits) >= self._hold_at:
            self.holding.set()
            return stop.wait(timeout=60)
        if stop.is_set():
            return True
        self.time += seconds
        return False


def backoff_ceilings(base: float, failures: int) -> list[float]:
    """The longest wait before each retry: ``base * 2**(n-1)`` (the pusher's cap is far off)."""
    return [base * 2**n for n in range(failures)]


class WireTap:
    """ASGI proxy to the real connector that records event batches and can spoil one answer.

    ``spoil`` decides what happens to the answer of the first ``POST /starface/v1/events``,
    which the connector has already committed when the proxy gets it: ``"502"`` answers 502
    instead, ``"cut"`` closes the connection halfway through the body, ``"timeout"`` never
    answers (until the client gives up and disconnects).
    """

    def __init__(self, upstream: str, spoil: str | None = None) -> None:
        self.upstream = upstream
        self.spoil = spoil
        self.batches: list[list[dict[str, Any]]] = []  # every events POST, as forwarded
        self.answers: list[int] = []  # the connector's status for each of them
        self.spoiled = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {
            k.decode(): v.decode()
            for k, v in scope["headers"]
            if k.lower() not in (b"host", b"content-length", b"connection")
        }
        path = scope["path"] + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as client:
            upstream = await client.request(scope["method"], path, content=body, headers=headers)
        is_batch = scope["method"] == "POST" and scope["path"] == "/starface/v1/events"
        if is_batch:
            self.batches.append(json.loads(body)["events"])
            self.answers.append(upstream.status_code)
        content = upstream.content
        out_headers = [
            (b"content-type", upstream.headers.get("content-type", "application/json").encode()),
            (b"content-length", str(len(content)).encode()),
        ]
        if is_batch and self.spoil and not self.spoiled and upstream.status_code == 200:
            self.spoiled += 1
            if self.spoil == "502":
                await send({"type": "http.response.start", "status": 502, "headers": []})
                await send({"type": "http.response.body", "body": b""})
            elif self.spoil == "cut":
                start = {"type": "http.response.start", "status": 200, "headers": out_headers}
                await send(start)
                half = content[: len(content) // 2]
                await send({"type": "http.response.body", "body": half, "more_body": True})
                # Returning now makes uvicorn drop the connection mid-body.
            else:  # timeout: say nothing until the client hangs up
                await asyncio.wait_for(receive(), timeout=30)
            return
        await send(
            {"type": "http.response.start", "status": upstream.status_code, "headers": out_headers}
        )
        await send({"type": "http.response.body", "body": content})


@pytest.fixture
def conn(engine: Engine, connector: Connector) -> Connector:
    """A clean connector that follows everything the module reports."""
    reset(engine)
    for name in (
        "IgnoreUserStatus",
        "IgnoreGroupUpdate",
        "IgnoreUserDeletes",
        "IgnoreUserSecurity",
    ):
        connector.set_param(name, "0")
    return connector


@pytest.fixture
def pbx() -> SimulatedPbx:
    generated = SimulatedPbx.generate(USERS, GROUPS, seed=5)
    generated.set_admin(generated.user_id_for_login("1002"), True)  # at least one admin
    return generated


@pytest.fixture
def pushers() -> Iterator[list[EventPusher]]:
    """Collects pushers made by a test and closes them even when it fails."""
    made: list[EventPusher] = []
    yield made
    for pusher in made:
        pusher.close()


def make_pusher(made: list[EventPusher], url: str, pbx: SimulatedPbx, **kw: Any) -> EventPusher:
    """A pusher on virtual time (a :class:`FakeClock` unless ``clock`` is given)."""
    kw.setdefault("backoff_base", 0.05)
    kw.setdefault("clock", FakeClock())
    pusher = EventPusher(url, MODULE_LOGIN, MODULE_PASSWORD, pbx, **kw)
    made.append(pusher)
    return pusher


def all_users(conn: Connector) -> dict[str, dict[str, Any]]:
    response = conn.admin("GET", "/api/v1/users", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return {u["usersUid"]: u for u in response.json()["items"]}


def event_log(conn: Connector) -> list[dict[str, Any]]:
    """The event log's entries of received events (the tests' parameter changes left out)."""
    response = conn.admin("GET", "/api/v1/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [item for item in items if item["type"] != "PARAMETER_SET"]


def assert_mirrors_pbx(conn: Connector, pbx: SimulatedPbx) -> None:
    """Every PBX user and group is on the connector with exactly the PBX's data."""
    snapshot = pbx.snapshot()
    users = all_users(conn)
    assert sorted(users) == sorted(u.login for u in snapshot.users)
    for user in snapshot.users:
        got = users[user.login]
        assert (got["firstName"], got["lastName"]) == (user.first_name, user.family_name)
        assert (got["email"], got["language"]) == (user.email, user.language)
        assert got["admin"] is user.admin
        assert sorted(got["phoneNumbers"]) == list(user.phone_numbers)
    response = conn.admin("GET", "/api/v1/groups")
    assert response.status_code == 200, response.text
    groups = {g["id"]: g for g in response.json()}
    assert sorted(groups) == sorted(str(g.id) for g in snapshot.groups)
    for group in snapshot.groups:
        assert groups[str(group.id)]["name"] == group.name
        assert sorted(groups[str(group.id)]["members"]) == list(group.member_logins)


def test_initial_push_creates_every_user_and_group(
    conn: Connector, pbx: SimulatedPbx, pushers: list[EventPusher]
) -> None:
    pusher = make_pusher(pushers, conn.url, pbx)
    pusher.push_initial()

    assert pusher.sent == USERS + GROUPS
    assert pusher.outcomes == Counter(applied=USERS + GROUPS)
    assert pusher.unsent == 0 and pusher.retries == 0
    assert any(u.admin for u in pbx.snapshot().users)  # the admin flag is really exercised
    assert_mirrors_pbx(conn, pbx)
    # OFFLINE until the first phone event, logged off until the first login.
    assert {u["phoneStatus"] for u in all_users(conn).values()} == {"OFFLINE"}


def test_live_traffic_is_realistic_and_leaves_the_last_pushed_state(
    conn: Connector, pbx: SimulatedPbx, pushers: list[EventPusher]
) -> None:
    rate, duration = 40.0, 2.0
    tap = WireTap(conn.url)
    with run_in_thread(tap) as tap_url:
        pusher = make_pusher(pushers, tap_url, pbx, rate=rate, batch_interval=0.1)
        pusher.push_initial()
        initial = pusher.sent
        # Changes made on the PBX by someone else are reported too.
        pbx.delete_user(pbx.user_id_for_login("1003"))
        pbx.update_user(pbx.user_id_for_login("1004"), family_name="Geändert")
        pusher.run(threading.Event(), duration=duration)

    assert pusher.unsent == 0
    assert pusher.error is None
    assert not set(pusher.outcomes) & {"stale", "rejected", "duplicate"}, pusher.outcomes
    live = [event for batch in tap.batches[1:] for event in batch]
    assert pusher.sent == initial + len(live)
    assert rate * duration * 0.5 <= len(live) <= rate * duration * 1.5 + 10, len(live)

    # On the wire: unique ids, RFC 3339 times with microseconds and offset, strictly rising.
    wire = [event for batch in tap.batches for event in batch]
    assert len({e["eventId"] for e in wire}) == len(wire)
    assert all(1 <= len(e["eventId"]) <= 128 for e in wire)
    assert all(OFFSET_TIME.match(e["occurredAt"]) for e in wire)
    moments = [e["occurredAt"] for e in wire]  # all UTC "Z": text order is time order
    assert moments == sorted(moments) and len(set(moments)) == len(moments)

    # Realistic sequences per user: call cycles, alternating logins of group members only.
    phone: dict[str, str] = {}
    login: dict[str, str] = {}
    members = {m for e in wire if e["type"] == "GROUP_UPDATE" for m in e["group"]["members"]}
    for event in live:
        if event["type"] == "PHONE_STATUS":
            before = phone.get(event["login"], "OFFLINE")
            assert event["status"] in PHONE_STEPS[before], (event["login"], before, event)
            phone[event["login"]] = event["status"]
        elif event["type"] == "USER_STATUS":
            expected = "LOGGED_OUT" if login.get(event["login"]) == "LOGGED_IN" else "LOGGED_IN"
            assert event["status"] == expected, event
            assert event["login"] in members, event
            login[event["login"]] = event["status"]
    assert sum(1 for e in live if e["type"] == "PHONE_STATUS") >= len(live) // 2
    assert any(e["type"] == "USER_STATUS" for e in live)
    assert any(e["type"] == "USER_DELETE" and e["login"] == "1003" for e in live)

    # The connector holds exactly the last pushed state of every user.
    users = all_users(conn)
    assert "1003" not in users and "1003" not in pusher.phone_states()
    assert users["1004"]["lastName"] == "Geändert"
    assert pusher.phone_states() == {uid: phone.get(uid, "OFFLINE") for uid in users}
    for uid, user in users.items():
        assert user["phoneStatus"] == phone.get(uid, "OFFLINE"), uid
        assert user["acdStatus"] == ACD_FOR_LOGIN.get(login.get(uid, ""), "LOGGED_OFF"), uid
    assert sum(1 for u in users.values() if u["phoneStatus"] != "OFFLINE") >= 5
    assert_mirrors_pbx(conn, pbx)


@pytest.mark.parametrize("spoil", ["502", "cut", "timeout"])
def test_a_retried_batch_is_applied_once(
    conn: Connector,
    spoil: str,
    pbx: SimulatedPbx,
    pushers: list[EventPusher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    tap = WireTap(conn.url, spoil=spoil)
    clock = FakeClock()
    with run_in_thread(tap) as tap_url, caplog.at_level(logging.INFO, logger=PUSHER_LOGGER):
        pusher = make_pusher(pushers, tap_url, pbx, timeout=1.0, clock=clock)
        pusher.push_initial()

    # The connector committed the first attempt, the pusher never heard of it, resent the
    # very same events, and the connector recognised every one of them.
    assert tap.spoiled == 1
    assert tap.answers == [200, 200]
    first, second = tap.batches
    assert [e["eventId"] for e in first] == [e["eventId"] for e in second]
    assert first == second
    assert pusher.retries == 1
    # One backoff before the resend: half of its ceiling fixed, the other half jittered.
    (ceiling,) = backoff_ceilings(0.05, 1)
    assert len(clock.waits) == 1 and ceiling / 2 <= clock.waits[0] <= ceiling
    failure = {"502": "HTTP 502", "cut": "RemoteProtocolError", "timeout": "ReadTimeout"}[spoil]
    assert failure in caplog.text  # the failure really was the kind this case is about
    assert pusher.outcomes == Counter(duplicate=USERS + GROUPS)
    assert pusher.unsent == 0

    outcomes: dict[str, list[str]] = {}
    for entry in event_log(conn):
        outcomes.setdefault(entry["eventId"], []).append(entry["outcome"])
    assert sorted(outcomes) == sorted(e["eventId"] for e in first)
    assert all(sorted(found) == ["applied", "duplicate"] for found in outcomes.values())
    assert_mirrors_pbx(conn, pbx)


def test_session_ended_by_the_connector_is_renewed_and_the_batch_resent(
    conn: Connector, pbx: SimulatedPbx, pushers: list[EventPusher]
) -> None:
    pusher = make_pusher(pushers, conn.url, pbx, rate=30.0, batch_interval=0.1)
    pusher.push_initial()
    old = pusher.session_id
    assert old is not None
    ended = conn.http.delete(f"{conn.url}/starface/v1/session", headers={"X-Session-Id": old})
    assert ended.status_code == 204

    pusher.run(threading.Event(), duration=0.5)

    assert pusher.session_renewals == 1
    assert pusher.session_id not in (None, old)
    assert pusher.unsent == 0 and pusher.sent > USERS + GROUPS
    assert not set(pusher.outcomes) & {"rejected", "duplicate", "stale"}, pusher.outcomes
    assert conn.send(conn.phone_status("1001", "IDLE"), session_id=old).status_code == 401
    phones = {u: s for u, s in pusher.phone_states().items() if s != "OFFLINE"}
    assert phones and all(all_users(conn)[u]["phoneStatus"] == s for u, s in phones.items())


def test_session_expired_by_idling_is_renewed(
    conn: Connector, pushers: list[EventPusher], clock: MovableClock
) -> None:
    conn.set_param("SessionExpireSeconds", "10")
    small = SimulatedPbx.generate(3, 0, seed=9)
    pusher = make_pusher(pushers, conn.url, small, rate=20.0, batch_interval=0.1)
    pusher.push_initial()
    assert pusher.session_renewals == 0
    clock.advance(11)  # the connector's clock: 11 s without use, so the session expired

    pusher.run(threading.Event(), duration=0.4)

    assert pusher.session_renewals == 1
    assert pusher.unsent == 0 and pusher.sent > 3
    assert pusher.outcomes["applied"] == pusher.sent


def test_wrong_module_password_is_a_clear_error(
    conn: Connector, pbx: SimulatedPbx, pushers: list[EventPusher]
) -> None:
    pusher = EventPusher(conn.url, MODULE_LOGIN, "wrong", pbx)
    pushers.append(pusher)
    with pytest.raises(PushError, match="refused"):
        pusher.push_initial()
    assert pusher.unsent == USERS + GROUPS  # kept, not dropped
    assert all_users(conn) == {}


def test_unreachable_connector_keeps_events_until_stopped(pushers: list[EventPusher]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FakeClock(hold_at=3)  # backoffs on virtual time; the third one waits for stop()
    url = f"http://127.0.0.1:{port}"
    pusher = make_pusher(pushers, url, SimulatedPbx.generate(5, 1), clock=clock)
    pusher.start()
    assert clock.holding.wait(timeout=30), "the pusher never got to its third backoff"
    assert pusher.retries == 3 and pusher.running
    pusher.stop()

    assert not pusher.running
    assert pusher.retries >= 3
    # Exponential backoff with jitter: each wait between half its ceiling and the ceiling.
    ceilings = backoff_ceilings(0.05, 3)
    assert all(c / 2 <= w <= c for w, c in zip(clock.waits[:3], ceilings, strict=True))
    assert pusher.error is None
    assert pusher.sent == 0 and pusher.unsent == 6


def test_after_the_connector_was_down_a_resync_brings_every_agent_to_the_pbx_state(
    conn: Connector, container: Container, pbx: SimulatedPbx, pushers: list[EventPusher]
) -> None:
    """Issue 10: a LOGGED_OUT missed while the connector was down is corrected by the resync
    the module sends when it can deliver again, not only by that agent's next event."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with run_in_thread(create_app(container), port=port) as url:
        pusher = make_pusher(pushers, url, pbx, rate=40.0, batch_interval=0.1)
        pusher.push_initial()
        pusher.run(threading.Event(), duration=1.0)
        assert pusher.unsent == 0
    before = dict(pusher.login_states())
    # The connector is down; the PBX goes on, and the module drops what it cannot deliver.
    pusher.generate(400)
    assert pusher.unsent > 0 and pusher.login_states() != before
    pusher.drop_unsent()
    with run_in_thread(create_app(container), port=port) as url:
        pusher.flush()
    assert pusher.resyncs == 1 and pusher.unsent == 0
    assert not set(pusher.outcomes) & {"rejected", "duplicate", "stale"}, pusher.outcomes
    users = all_users(conn)
    phones, logins = pusher.phone_states(), pusher.login_states()
    assert sorted(users) == sorted(phones)
    for uid, user in users.items():
        assert user["phoneStatus"] == phones[uid], uid
        assert user["acdStatus"] == ACD_FOR_LOGIN[logins[uid]], uid
    resynced = [e for e in event_log(conn) if e["reason"].startswith("resync")]
    assert len(resynced) == 2 * len(users)
