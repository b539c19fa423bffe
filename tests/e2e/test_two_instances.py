"""Two ``serve`` processes on one PostgreSQL database, taking one event stream between them.

A generated sequence of events with distinct timestamps (profile updates, agent and telephone
statuses, group updates) is shuffled, every event sent at least twice, and split into
batches sent concurrently to both instances by several clients each. The result must be
exact: the users, their statuses and the groups are what the domain rules give applying the
sequence once, in timestamp order, on a fresh connector; every eventId is decided exactly
once (one answer and one event-log entry that is not ``duplicate``); and both instances
answer the same state over the jtel API (neither serves a stale memory of the other's
writes).

The users are created first (an agent status for an unknown user is rejected, whatever
the order, so statuses can only be reordered among themselves once the users exist).
"""

from __future__ import annotations

import random
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest

from starface_connector.domain.parameters import DEFAULTS
from starface_connector.domain.rules import World
from tests.conftest import ADMIN_PASSWORD, open_container, scratch_database, settings_for
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
    replay,
    server_environment,
    start_server,
    stored_world,
    user_update,
)
from tests.logbook import remember_secret

USERS = 200
GROUPS = 12
EVENTS = 4000  # after the users' creation
CLIENTS_PER_INSTANCE = 3


def generate(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The users' creation, then the sequence to shuffle; every timestamp distinct."""
    logins = [f"agent{n:04d}" for n in range(USERS)]
    tick = count(1)
    created = [user_update(login, later(START, next(tick))) for login in logins]
    rest: list[dict[str, Any]] = []
    for _ in range(EVENTS):
        at, kind = later(START, next(tick)), rng.random()
        login = rng.choice(logins)
        if kind < 0.4:
            rest.append(event("USER_STATUS", at, login=login, status=rng.choice(USER_STATUSES)))
        elif kind < 0.8:
            rest.append(event("PHONE_STATUS", at, login=login, status=rng.choice(PHONE_STATUSES)))
        elif kind < 0.9:
            rest.append(user_update(login, at, first_name=rng.choice(("Anna", "Ben", "Cem"))))
        else:
            members = rng.sample(logins, rng.randint(0, 15))
            group = {"id": f"g{rng.randrange(GROUPS)}", "name": f"Team {at:%H%M%S}"}
            rest.append(event("GROUP_UPDATE", at, group={**group, "members": members}))
    return created, rest


def shuffled_batches(
    events: list[dict[str, Any]], rng: random.Random, copies: int
) -> list[list[dict[str, Any]]]:
    """Every event ``copies`` times or once more, in random order, in batches of 1 to 40."""
    sent = [e for e in events for _ in range(copies + (rng.random() < 0.2))]
    rng.shuffle(sent)
    out: list[list[dict[str, Any]]] = []
    while sent:
        size = rng.randint(1, 40)
        out.append(sent[:size])
        sent = sent[size:]
    return out


def deliver_split(urls: list[str], batches: list[list[dict[str, Any]]]) -> list[ModuleClient]:
    """Batches dealt round robin to each instance's clients, all sending at once."""
    clients = [ModuleClient(Target(u)) for u in urls for _ in range(CLIENTS_PER_INSTANCE)]
    shares = [batches[n :: len(clients)] for n in range(len(clients))]

    def run(client: ModuleClient, share: list[list[dict[str, Any]]]) -> None:
        for batch in share:
            if client.deliver(batch) is None:
                return

    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(run, clients, shares))
    for client in clients:
        client.close()
    failures = [f for c in clients for f in c.failures]
    assert not failures, failures
    return clients


def users_seen_by(url: str, logins: list[str]) -> dict[str, tuple[Any, ...]]:
    with httpx.Client(base_url=url, timeout=30) as http:
        signed_in = http.post(
            "/api/v1/auth/login", json={"username": "sysadmin", "password": ADMIN_PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["token"]
        remember_secret("a sysadmin token (two instances)", token)
        headers = {"Authorization": f"Bearer {token}"}
        seen = {}
        for login in logins:
            user = http.get(f"/api/v1/users/{login}", headers=headers).json()
            seen[login] = (
                user["firstName"],
                user["acdStatus"],
                user["phoneStatus"],
                sorted(user["groups"]),
            )
        return seen


def expected_view(world: World, logins: list[str]) -> dict[str, tuple[Any, ...]]:
    groups_of: dict[str, list[str]] = {login: [] for login in logins}
    for group in world.groups.values():
        for member in group.members:
            groups_of.setdefault(member, []).append(group.group_id)
    return {
        login: (
            world.users[login].profile.first_name,
            world.users[login].acd_status.value,
            world.users[login].phone_status.value,
            sorted(groups_of[login]),
        )
        for login in logins
    }


@pytest.mark.slow
def test_two_instances_on_one_postgresql_database_reach_the_exact_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random()
    created, rest = generate(rng)
    env = server_environment(tmp_path)
    with scratch_database("postgresql", tmp_path) as url:
        prepared = open_container(settings_for(url))
        for name, value in TAKE_EVERYTHING.items():
            prepared.admin.set_parameter(name, value, actor="test")
        prepared.close()
        servers = [start_server(env, url) for _ in range(2)]
        try:
            urls = [s.url for s in servers]
            first = deliver_split(urls, shuffled_batches(created, rng, copies=1))
            then = deliver_split(urls, shuffled_batches(rest, rng, copies=2))
            answers = Counter(
                event_id
                for client in first + then
                for acked in client.acknowledged
                for e, outcome in zip(acked.events, acked.outcomes, strict=True)
                if outcome != "duplicate"
                for event_id in [e["eventId"]]
            )
            sent = created + rest
            not_once = {e["eventId"]: n for e in sent if (n := answers[e["eventId"]]) != 1}
            assert not not_once, f"answered other than duplicate not once: {not_once}"

            expected = replay(sent, DEFAULTS | TAKE_EVERYTHING)
            logins = sorted(expected.users)
            view = expected_view(expected, logins)
            for server_url in urls:  # each instance's memory agrees with the other's writes
                assert users_seen_by(server_url, logins) == view, server_url
        finally:
            for server in servers:
                server.stop(signal.SIGKILL)

        checker = open_container(settings_for(url))
        try:
            decided, seen = decided_counts(checker)
            assert set(decided) == {e["eventId"] for e in sent}
            assert set(decided) <= seen
            twice = {i: n for i, n in decided.items() if n != 1}
            assert not twice, f"decided more than once: {list(twice.items())[:5]}"
            problems = differences(expected, stored_world(checker))
            assert not problems, f"{len(problems)} differences, e.g. {problems[:3]}"
        finally:
            checker.close()
    outcomes = Counter(o for c in first + then for a in c.acknowledged for o in a.outcomes)
    with capsys.disabled():  # the counts belong in the run's output
        print(
            f"\n[two instances, postgresql] {len(sent)} events sent {sum(outcomes.values())} times "
            f"in {sum(len(c.acknowledged) for c in first + then)} batches over 2 instances: "
            f"{dict(outcomes)}; each decided once; {len(expected.users)} users and "
            f"{len(expected.groups)} groups exact"
        )
