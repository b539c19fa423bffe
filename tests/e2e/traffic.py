"""Event traffic against real ``serve`` processes, and the oracle that says what it must leave.

Shared by the crash test (SIGKILL under load) and the two-instance test: a ``serve`` started
in its own process group on a given database, module clients that resend a batch until it
is acknowledged (what the STARFACE module does), and the expected state computed by the
domain rules (``decide``/``apply``) from the events in the order they must take effect.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from starface_connector.api.schemas import parse_event
from starface_connector.bootstrap import Container
from starface_connector.domain.model import Event
from starface_connector.domain.parameters import read_parameters
from starface_connector.domain.rules import World, apply, decide
from starface_connector.service.events import Malformed
from starface_connector.storage.tables import EventLogRow, SeenEventRow
from tests.conftest import ADMIN_PASSWORD, MODULE_LOGIN, MODULE_PASSWORD, REPO_ROOT
from tests.e2e.test_cli import Server, environment, free_port, start_pumps
from tests.logbook import remember_secret

PFX = "Portal.WebServices.Starface."
#: statuses and groups are taken (their standard is to ignore them)
TAKE_EVERYTHING = {PFX + "IgnoreUserStatus": "0", PFX + "IgnoreGroupUpdate": "0"}
USER_STATUSES = ("LOGGED_IN", "LOGGED_OUT")
CHILD = [sys.executable, "-m", "tests.e2e.start_child"]
PHONE_STATUSES = ("IDLE", "RINGING", "BUSY", "OFFLINE")
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def server_environment(home: Path) -> dict[str, str]:
    """The module and sysadmin credentials from the environment, as an operator sets them."""
    return environment(home) | {
        "STARFACE_CONNECTOR_MODULE_LOGIN": MODULE_LOGIN,
        "STARFACE_CONNECTOR_MODULE_PASSWORD": MODULE_PASSWORD,
        "STARFACE_CONNECTOR_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }


def start_server(env: dict[str, str], url: str, timeout: float = 60) -> Server:
    """A real ``serve`` on ``url`` in its own process group, once it answers /readyz."""
    return release(standby(env, url, timeout), timeout)


def start_released(env: dict[str, str], url: str) -> Server:
    """A real ``serve`` that waits, fully imported, for the word to start (:func:`release`)."""
    port = free_port()
    process = subprocess.Popen(
        [*CHILD, "serve", "--port", str(port), "--database-url", url],
        env=env,
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    start_pumps(server)
    return server


def standby(env: dict[str, str], url: str, timeout: float = 60) -> Server:
    """A ``serve`` process with its modules imported, waiting for :func:`release`: started
    while the one before it still runs, so a restart takes what a start takes once Python
    is loaded (the test kills 20 times; it need not wait for 20 interpreters)."""
    server = start_released(env, url)
    process = server.process
    deadline = time.monotonic() + timeout
    while not server.out:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            pytest.fail(f"serve did not get ready:\n{server.stdout}{server.stderr}")
        time.sleep(0.01)
    return server


def release(server: Server, timeout: float = 60) -> Server:
    """Let a :func:`standby` server start; return it once it answers /readyz."""
    process = server.process
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            time.sleep(0.2)
            pytest.fail(f"serve exited with {process.returncode}:\n{server.stdout}{server.stderr}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            pytest.fail(f"serve did not answer within {timeout} s:\n{server.stderr}")
        time.sleep(0.05)


# ---- events ---------------------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event(kind: str, at: datetime, **body: Any) -> dict[str, Any]:
    return {"eventId": f"e-{secrets.token_hex(8)}", "occurredAt": stamp(at), "type": kind, **body}


def user_update(login: str, at: datetime, first_name: str = "Anna") -> dict[str, Any]:
    user = {
        "login": login,
        "firstName": first_name,
        "familyName": "Müller",
        "email": f"{login}@example.com",
        "language": "de",
        "admin": False,
        "phoneNumbers": [f"+49 30 {login}"],
    }
    return event("USER_UPDATE", at, user=user)


def batches(events: Sequence[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [list(events[i : i + size]) for i in range(0, len(events), size)]


# ---- a module client that resends until acknowledged ----------------------------------------


@dataclass
class Acknowledged:
    """A batch answered 200: its events and the outcome of each; ``attempts`` counts the
    sends, so more than one means an earlier send was cut off (a kill, a 503)."""

    events: list[dict[str, Any]]
    outcomes: list[str]
    attempts: int


@dataclass
class Target:
    """Where a client sends: changed by the test when it restarts the server."""

    url: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> str:
        with self.lock:
            return self.url

    def set(self, url: str) -> None:
        with self.lock:
            self.url = url


class ModuleClient:
    """Sends batches one after another, each until it is answered 200; a cut connection, a
    503 or a refused session (a new process may not know it yet) is retried, anything else
    is recorded as a failure for the test to report."""

    def __init__(self, target: Target, *, give_up_after: float = 120) -> None:
        self.target = target
        self.http = httpx.Client(timeout=30)
        self.session_id: str | None = None
        self.acknowledged: list[Acknowledged] = []
        self.failures: list[str] = []
        self.give_up_after = give_up_after

    def close(self) -> None:
        self.http.close()

    def _open_session(self, url: str) -> bool:
        response = self.http.post(
            f"{url}/starface/v1/session", json={"login": MODULE_LOGIN, "password": MODULE_PASSWORD}
        )
        if response.status_code == 200:
            self.session_id = response.json()["sessionId"]
            remember_secret("a module session id (load clients)", self.session_id)
            return True
        if response.status_code != 503:
            self.failures.append(f"session: {response.status_code} {response.text}")
        return False

    def deliver(self, batch: list[dict[str, Any]]) -> Acknowledged | None:
        deadline, attempts = time.monotonic() + self.give_up_after, 0
        while time.monotonic() < deadline and not self.failures:
            url = self.target.get()
            try:
                if self.session_id is None and not self._open_session(url):
                    time.sleep(0.05)
                    continue
                attempts += 1
                response = self.http.post(
                    f"{url}/starface/v1/events",
                    json={"events": batch},
                    headers={"X-Session-Id": self.session_id or ""},
                )
            except httpx.TransportError:
                time.sleep(0.02)
                continue
            if response.status_code == 200:
                outcomes = [r["outcome"] for r in response.json()["results"]]
                acked = Acknowledged(batch, outcomes, attempts)
                self.acknowledged.append(acked)
                return acked
            if response.status_code == 401:
                self.session_id = None
            elif response.status_code != 503:
                self.failures.append(f"events: {response.status_code} {response.text}")
            time.sleep(0.02)
        if not self.failures:
            self.failures.append(f"batch not acknowledged within {self.give_up_after} s")
        return None


# ---- what the database must hold ------------------------------------------------------------


def domain_events(raw: Iterable[dict[str, Any]]) -> list[Event]:
    parsed = [parse_event(r) for r in raw]
    bad = [p for p in parsed if isinstance(p, Malformed)]
    assert not bad, bad[:3]
    return [p for p in parsed if not isinstance(p, Malformed)]


def replay(raw: Iterable[dict[str, Any]], parameters: dict[str, str]) -> World:
    """The state a fresh connector reaches applying ``raw`` once, in this order: the rules
    themselves, without storage, HTTP or processes."""
    params, problems = read_parameters(parameters)
    assert not problems, problems
    world = World()
    for item in domain_events(raw):
        apply(world, item, decide(item, world, params))
    return world


def stored_world(container: Container) -> World:
    with container.uow() as uow:
        return uow.world.load_all()


def differences(expected: World, actual: World) -> list[str]:
    """What differs between two states, user by user and group by group (a readable list,
    not one giant diff)."""
    found: list[str] = []
    for login in sorted(expected.users.keys() | actual.users.keys()):
        want, got = expected.users.get(login), actual.users.get(login)
        if want != got:
            found.append(f"user {login}: expected {want}, stored {got}")
    for group_id in sorted(expected.groups.keys() | actual.groups.keys()):
        want_g, got_g = expected.groups.get(group_id), actual.groups.get(group_id)
        if (
            want_g is None
            or got_g is None
            or (want_g.name, sorted(want_g.members))
            != (
                got_g.name,
                sorted(got_g.members),
            )
        ):
            found.append(f"group {group_id}: expected {want_g}, stored {got_g}")
    if expected.deleted_at != actual.deleted_at:
        found.append(f"deleted: expected {expected.deleted_at}, stored {actual.deleted_at}")
    return found


def decided_counts(container: Container) -> tuple[dict[str, int], set[str]]:
    """Per eventId, how many event-log entries decided it (any outcome but duplicate), and
    every eventId in the idempotency table."""
    with container.engine.connect() as connection:
        rows = connection.execute(
            select(EventLogRow.event_id, func.count())
            .where(EventLogRow.outcome != "duplicate", EventLogRow.event_id.is_not(None))
            .group_by(EventLogRow.event_id)
        ).all()
        seen = set(connection.scalars(select(SeenEventRow.event_id)))
    return {str(event_id): int(n) for event_id, n in rows}, seen


def later(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)
