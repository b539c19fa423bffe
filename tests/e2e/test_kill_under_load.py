"""SIGKILL under load, on SQLite, PostgreSQL and MariaDB: an acknowledged batch is never lost
and no event is ever applied twice.

A real ``serve`` takes event batches from several module clients at once and is SIGKILLed
at random moments, :data:`KILLS` times, and restarted on the same database each time. Every
client resends its batch until it is answered 200, as the module does. Afterwards:

* every acknowledged event was decided exactly once (one event-log entry that is not
  ``duplicate``) and its eventId is in the idempotency table;
* a batch whose first send was cut off comes back all ``applied`` or all ``duplicate`` (it was
  committed whole or not at all), never partly;
* resending every acknowledged batch answers ``duplicate`` for every event;
* the users' state (profile, agent status, telephone status and their clocks) is exactly what
  the domain rules give applying every client's events once, in the order it sent them.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from starface_connector.domain.parameters import DEFAULTS
from tests.conftest import BACKENDS, open_container, scratch_database, settings_for
from tests.e2e.test_cli import Server
from tests.e2e.traffic import (
    PHONE_STATUSES,
    START,
    TAKE_EVERYTHING,
    USER_STATUSES,
    ModuleClient,
    Target,
    decided_counts,
    differences,
    event,
    later,
    release,
    replay,
    server_environment,
    standby,
    start_server,
    stored_world,
    user_update,
)

KILLS = 20
CLIENTS = 4
USERS_PER_CLIENT = 75  # 300 users in all
BATCH = 20
#: how long a server serves before its kill, in seconds (drawn at random)
UPTIME = (0.3, 1.3)
#: between a client's batches: enough batches in flight at every kill, not more to check
PAUSE = 0.01


def client_events(client: int, rng: random.Random) -> Any:
    """One client's endless stream: its users created, then status changes and profile
    updates, each later than the one before (one client's users are its own)."""
    logins = [f"c{client}u{n:03d}" for n in range(USERS_PER_CLIENT)]
    tick = count(1)
    for login in logins:
        yield user_update(login, later(START, next(tick)))
    while True:
        login = rng.choice(logins)
        at = later(START, next(tick))
        kind = rng.random()
        if kind < 0.45:
            yield event("USER_STATUS", at, login=login, status=rng.choice(USER_STATUSES))
        elif kind < 0.9:
            yield event("PHONE_STATUS", at, login=login, status=rng.choice(PHONE_STATUSES))
        else:
            yield user_update(login, at, first_name=f"Anna{next(tick)}")


def run_client(client: ModuleClient, stream: Any, stop: threading.Event) -> None:
    while not stop.is_set() and not client.failures:
        batch = [next(stream) for _ in range(BATCH)]
        client.deliver(batch)
        stop.wait(PAUSE)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_under_load_loses_no_acknowledged_event_and_applies_none_twice(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random()
    env = server_environment(tmp_path)
    with scratch_database(backend, tmp_path) as url:
        prepared = open_container(settings_for(url))
        for name, value in TAKE_EVERYTHING.items():
            prepared.admin.set_parameter(name, value, actor="test")
        prepared.close()

        server: Server = start_server(env, url)
        target = Target(server.url)
        stop = threading.Event()
        clients = [ModuleClient(target) for _ in range(CLIENTS)]
        streams = [client_events(n, random.Random(rng.random())) for n in range(CLIENTS)]
        threads = [
            threading.Thread(target=run_client, args=(c, s, stop), daemon=True)
            for c, s in zip(clients, streams, strict=True)
        ]
        restarts: list[float] = []
        following: Server | None = None
        began_run = time.monotonic()
        try:
            for thread in threads:
                thread.start()
            for _ in range(KILLS):
                began = time.monotonic()
                following = standby(env, url)  # loads Python while this one serves
                time.sleep(max(0.0, rng.uniform(*UPTIME) - (time.monotonic() - began)))
                server.stop(signal.SIGKILL)
                assert server.process.returncode == -signal.SIGKILL
                began = time.monotonic()
                server, following = release(following), None
                restarts.append(time.monotonic() - began)
                target.set(server.url)
            time.sleep(rng.uniform(*UPTIME))  # the last start takes load too
            stop.set()
            for thread in threads:
                thread.join(150)
            assert not any(t.is_alive() for t in threads), "a client still waits for an answer"
            loaded = time.monotonic() - began_run
            failures = [f for c in clients for f in c.failures]
            assert not failures, failures

            acknowledged = [a for c in clients for a in c.acknowledged]
            cut_off = [a for a in acknowledged if a.attempts > 1]
            for acked in acknowledged:
                first_time = {"applied"} if acked.attempts == 1 else {"applied", "duplicate"}
                assert len(set(acked.outcomes)) == 1, acked  # committed whole or not at all
                assert set(acked.outcomes) <= first_time, acked

            # resent, every acknowledged batch is a duplicate through and through
            resender = ModuleClient(target)
            with ThreadPoolExecutor(CLIENTS) as pool:
                again = list(pool.map(resender.deliver, [a.events for a in acknowledged]))
            resender.close()
            assert not resender.failures, resender.failures
            lost = [
                (a.outcomes, b.events[0]["eventId"])
                for a, b in zip(again, acknowledged, strict=True)
                if a is None or set(a.outcomes) != {"duplicate"}
            ]
            assert not lost, f"{len(lost)} acknowledged batches not stored, e.g. {lost[:2]}"
        finally:
            stop.set()
            server.stop(signal.SIGKILL)
            if following is not None:
                following.stop(signal.SIGKILL)
            for c in clients:
                c.close()

        sent = [e for c in clients for a in c.acknowledged for e in a.events]
        ids = [e["eventId"] for e in sent]
        checker = open_container(settings_for(url))
        try:
            decided, seen = decided_counts(checker)
            twice = {i: n for i, n in decided.items() if n != 1}
            assert not twice, f"decided more than once: {list(twice.items())[:5]}"
            missing = [i for i in ids if i not in decided or i not in seen]
            assert not missing, f"acknowledged but not stored: {missing[:5]}"
            assert set(decided) == set(ids)  # nothing stored that nobody sent
            expected = replay(sent, DEFAULTS | TAKE_EVERYTHING)
            problems = differences(expected, stored_world(checker))
            assert not problems, f"{len(problems)} differences, e.g. {problems[:3]}"
        finally:
            checker.close()
    with capsys.disabled():  # the counts belong in the run's output
        print(
            f"\n[{backend}] {KILLS} SIGKILLs, {len(acknowledged)} batches acknowledged, "
            f"{len(ids)} acknowledged events checked (each decided once, all duplicate "
            f"when resent), {len(cut_off)} batches cut off by a kill and resent, "
            f"{sum(set(a.outcomes) == {'duplicate'} for a in cut_off)} of them committed "
            f"before the kill; {len(expected.users)} users' states exact; "
            f"{loaded:.0f} s under load, restarts took {sum(restarts):.0f} s "
            f"(longest {max(restarts):.1f} s)"
        )
