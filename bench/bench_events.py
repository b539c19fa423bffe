"""Benchmark: live event batches (PHONE_STATUS / USER_STATUS) through a real connector.

Run: ``.venv/bin/python -m bench.bench_events [--batches 50 --batch-size 100
--database-url URL]``. See ``bench/README.md``.

A real connector (``create_app`` on a fresh database, served by uvicorn on 127.0.0.1 in a
thread) gets a module session and 200 users (USER_UPDATE, not measured), with
IgnoreUserStatus=0 so login events change the ACD status. Then batches of telephone call
cycles (IDLE -> RINGING -> BUSY -> IDLE) and agent logins/logouts are POSTed to
``/starface/v1/events``, each batch answered after its commit. After every batch the same
HTTP client sends ``--noop-per-batch`` ``GET /healthz`` requests to the same server: that
no-op endpoint is the ceiling, measured interleaved with the batches so both see the same
machine load. Request bodies are encoded before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx

from starface_connector.api.app import create_app
from starface_connector.domain.parameters import IGNORE_USER_STATUS
from starface_connector.service.accounts import ensure_credentials
from starface_connector.service.admin import set_parameter
from starface_connector.serving import run_in_thread
from starface_connector.storage.db import make_engine, session_factory, upgrade

from .common import (
    ScratchDatabases,
    environment,
    loadavg,
    median,
    percentile,
    print_table,
    publish,
)

MODULE_LOGIN = "starface-module"
MODULE_PASSWORD = "bench-module-secret"
ADMIN_PASSWORD = "bench-sysadmin-secret"
USERS = 200
FIRST_LOGIN = 1001
PHONE_CYCLE = {"IDLE": "RINGING", "RINGING": "BUSY", "BUSY": "IDLE"}
WARMUP_BATCHES = 5


class EventSource:
    """Realistic, always-newer events for a fixed set of users (seeded, deterministic)."""

    def __init__(self, logins: list[str], seed: int) -> None:
        self.logins = logins
        self.rng = random.Random(seed)
        self.clock = datetime.now(UTC).replace(microsecond=0)
        self.ids = count(1)
        self.phone = dict.fromkeys(logins, "IDLE")
        self.logged_in = dict.fromkeys(logins, False)

    def _event(self, kind: str, **body: Any) -> dict[str, Any]:
        self.clock += timedelta(milliseconds=1)
        return {
            "eventId": f"bench-{kind.lower()}-{next(self.ids)}",
            "occurredAt": self.clock.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "type": kind,
            **body,
        }

    def user_update(self, login: str) -> dict[str, Any]:
        user = {
            "login": login,
            "firstName": "Agent",
            "familyName": f"Nummer {login}",
            "email": f"agent.{login}@example.com",
            "language": "de",
            "admin": False,
            "phoneNumbers": [f"+49 721 {login}", str(20000 + int(login))],
        }
        return self._event("USER_UPDATE", user=user)

    def status_event(self) -> dict[str, Any]:
        """80% a step of a call cycle, 20% an agent logging in or out."""
        login = self.rng.choice(self.logins)
        if self.rng.random() < 0.8:
            self.phone[login] = PHONE_CYCLE[self.phone[login]]
            return self._event("PHONE_STATUS", login=login, status=self.phone[login])
        self.logged_in[login] = not self.logged_in[login]
        status = "LOGGED_IN" if self.logged_in[login] else "LOGGED_OUT"
        return self._event("USER_STATUS", login=login, status=status)

    def batch(self, size: int) -> bytes:
        return json.dumps({"events": [self.status_event() for _ in range(size)]}).encode()


def post(http: httpx.Client, session_id: str, body: bytes) -> tuple[float, list[dict[str, Any]]]:
    started = time.perf_counter()
    response = http.post(
        "/starface/v1/events",
        content=body,
        headers={"X-Session-Id": session_id, "Content-Type": "application/json"},
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(
            f"POST /starface/v1/events answered {response.status_code}: {response.text}"
        )
    results: list[dict[str, Any]] = response.json()["results"]
    return elapsed, results


def noop(http: httpx.Client) -> float:
    started = time.perf_counter()
    response = http.get("/healthz")
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"GET /healthz answered {response.status_code}")
    return elapsed


def prepare(url: str) -> Any:
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    ensure_credentials(
        factory,
        module_login=MODULE_LOGIN,
        module_password=MODULE_PASSWORD,
        admin_password=ADMIN_PASSWORD,
    )
    set_parameter(factory, IGNORE_USER_STATUS, "0", actor="bench")
    return engine


def run(args: argparse.Namespace, base_url: str) -> dict[str, Any]:
    logins = [str(FIRST_LOGIN + i) for i in range(USERS)]
    source = EventSource(logins, args.seed)
    with httpx.Client(base_url=base_url, timeout=120) as http:
        opened = http.post(
            "/starface/v1/session", json={"login": MODULE_LOGIN, "password": MODULE_PASSWORD}
        )
        opened.raise_for_status()
        session_id = opened.json()["sessionId"]
        for start in range(0, USERS, 100):
            body = json.dumps(
                {"events": [source.user_update(login) for login in logins[start : start + 100]]}
            ).encode()
            _, results = post(http, session_id, body)
            if any(r["outcome"] != "applied" for r in results):
                raise SystemExit(f"creating the users failed: {results[:3]}")
        for _ in range(WARMUP_BATCHES):  # not measured: code paths, pools, caches
            post(http, session_id, source.batch(args.batch_size))
            for _ in range(args.noop_per_batch):
                noop(http)

        bodies = [source.batch(args.batch_size) for _ in range(args.batches)]
        batch_latencies: list[float] = []
        noop_latencies: list[float] = []
        outcomes: Counter[str] = Counter()
        for body in bodies:
            elapsed, results = post(http, session_id, body)
            batch_latencies.append(elapsed)
            outcomes.update(r["outcome"] for r in results)
            for _ in range(args.noop_per_batch):
                noop_latencies.append(noop(http))
    return {
        "batch_latencies_s": batch_latencies,
        "noop_latencies_s": noop_latencies,
        "outcomes": dict(outcomes),
    }


def report(
    args: argparse.Namespace, env: dict[str, Any], raw: dict[str, Any], backend: str
) -> dict[str, Any]:
    batches = raw["batch_latencies_s"]
    noops = raw["noop_latencies_s"]
    events = len(batches) * args.batch_size
    events_per_s = events / sum(batches)
    noop_per_s = len(noops) / sum(noops)

    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1000

    figures = {
        "events_per_s": events_per_s,
        "batches_per_s": len(batches) / sum(batches),
        "events_per_s_at_p50": args.batch_size / median(batches),
        "batch_ms": {
            "p50": ms(batches, 50),
            "p95": ms(batches, 95),
            "min": min(batches) * 1000,
            "max": max(batches) * 1000,
        },
        "noop_requests_per_s": noop_per_s,
        "noop_ms": {
            "p50": ms(noops, 50),
            "p95": ms(noops, 95),
            "min": min(noops) * 1000,
            "max": max(noops) * 1000,
        },
    }
    ratios = {
        "events/s / no-op requests/s": events_per_s / noop_per_s,
        "batches/s / no-op requests/s": figures["batches_per_s"] / noop_per_s,
        "batch p50 / no-op p50": figures["batch_ms"]["p50"] / figures["noop_ms"]["p50"],
        "batch p95 / no-op p95": figures["batch_ms"]["p95"] / figures["noop_ms"]["p95"],
    }
    per_event_ms = (figures["batch_ms"]["p50"] - figures["noop_ms"]["p50"]) / args.batch_size
    print()
    print_table(
        ["", "throughput /s", "p50 ms", "p95 ms", "min ms", "max ms"],
        [
            (
                f"POST /starface/v1/events ({args.batch_size} events)",
                f"{events_per_s:,.0f} events",
                f"{figures['batch_ms']['p50']:.1f}",
                f"{figures['batch_ms']['p95']:.1f}",
                f"{figures['batch_ms']['min']:.1f}",
                f"{figures['batch_ms']['max']:.1f}",
            ),
            (
                "GET /healthz (no-op ceiling)",
                f"{noop_per_s:,.0f} requests",
                f"{figures['noop_ms']['p50']:.2f}",
                f"{figures['noop_ms']['p95']:.2f}",
                f"{figures['noop_ms']['min']:.2f}",
                f"{figures['noop_ms']['max']:.2f}",
            ),
        ],
    )
    print()
    print_table(["ratio", "x"], [(name, f"{value:.3f}") for name, value in ratios.items()])
    print(
        f"\nbatches: {len(batches)} x {args.batch_size} events, {len(noops)} no-op requests; "
        f"outcomes {raw['outcomes']}; "
        f"per event beyond one no-op round trip (p50): {per_event_ms:.2f} ms"
    )
    return {
        "benchmark": "events",
        "config": {
            "batches": args.batches,
            "batch_size": args.batch_size,
            "noop_per_batch": args.noop_per_batch,
            "users": USERS,
            "seed": args.seed,
            "database": backend,
            "command": " ".join([".venv/bin/python -m bench.bench_events", *sys.argv[1:]]),
        },
        "environment": {**env, "loadavg_at_end": loadavg()},
        "figures": figures,
        "ratios": ratios,
        "per_event_ms_beyond_noop_p50": per_event_ms,
        "outcomes": raw["outcomes"],
        "raw": raw,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_events", description=__doc__)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--noop-per-batch", type=int, default=4, help="GET /healthz requests after each batch"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL or MariaDB server URL (a scratch database is created and dropped); "
        "default: a fresh SQLite file",
    )
    args = parser.parse_args(argv)
    if args.batches < 1 or not 1 <= args.batch_size <= 1000 or args.noop_per_batch < 1:
        parser.error("need --batches >= 1, 1 <= --batch-size <= 1000, --noop-per-batch >= 1")

    env = environment()
    print(
        f"events benchmark: {args.batches} batches x {args.batch_size} events, {USERS} users; "
        f"python {env['python']}, {env['cpus']} CPUs, load {env['loadavg_at_start']}; "
        f"code {env['code']}"
    )
    with ScratchDatabases(args.database_url) as dbs, dbs.fresh() as url:
        engine = prepare(url)
        try:
            with run_in_thread(create_app(engine)) as base_url:
                print(f"database: {dbs.describe()}; connector at {base_url}")
                raw = run(args, base_url)
        finally:
            engine.dispose()
        results = report(args, env, raw, dbs.backend)
    publish("events", dbs.backend, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
