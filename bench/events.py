"""The event path under load, each figure beside ceilings measured in the same run.

The real ``starface-connector serve`` runs as its own process; ``wrk`` (with ``events.lua``)
loads it from another process, so the load generator never shares the server's GIL. The mix
is the module's: mostly PHONE_STATUS, some USER_STATUS, a few USER_UPDATE, over 5,000 agents.

For every (batch size, connections) the rounds interleave three servers on the same stack:

* the connector (``serve``);
* ceiling A: the same uvicorn stack answering the same POST, parsing the body, no work;
* ceiling B: the same stack inserting one plain row per event and committing once per request,
  on the same kind of database.

Reported: events/s, latency p50/p95/p99 per request, errors, the outcomes the connector logged
(all ``applied`` for this mix), and the server's CPU seconds per request (its own process; a
PostgreSQL or MariaDB server's CPU is not included). Medians over the rounds.

    .venv/bin/python -m bench events [--databases sqlite,postgresql,mariadb]
        [--batches 1,100] [--connections 1,8,32] [--rounds 3] [--duration 5]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.common import ROOT, ScratchDatabases, environment, median, publish
from starface_connector.bootstrap import bootstrap
from starface_connector.config import Settings
from starface_connector.storage.tables import EventLogRow

SERVERS = {
    "sqlite": None,
    "postgresql": "postgresql://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql://root@127.0.0.1:3306/test",
}
POOL = 5000
THREADS = 2
MODULE = ("bench-module", "bench-module-secret")
ADMIN_PASSWORD = "bench-admin-secret"
LUA = Path(__file__).with_name("events.lua")


def ensure_wrk() -> str:
    """wrk from Debian, installed when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk from Debian ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed and apt-get could not install it")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User plus system CPU of the server process (all its threads), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running(name: str, command: list[str], env: dict[str, str], port: int) -> Iterator[Server]:
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start")
            time.sleep(0.1)
        yield Server(name, url, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def serve_environment(database_url: str) -> dict[str, str]:
    """What ``serve`` reads from its environment in every benchmark: the database and the
    accounts :func:`prepare` created."""
    return {
        "STARFACE_CONNECTOR_DATABASE_URL": database_url,
        "STARFACE_CONNECTOR_MODULE_LOGIN": MODULE[0],
        "STARFACE_CONNECTOR_MODULE_PASSWORD": MODULE[1],
        "STARFACE_CONNECTOR_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }


def prepare(database_url: str) -> None:
    """Accounts, the parameters this mix wants applied, and the agents, before any load."""
    settings = Settings(
        database_url=database_url,
        module_login=MODULE[0],
        module_password=MODULE[1],  # type: ignore[arg-type]
        admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
    )
    connector = bootstrap(settings)
    try:
        connector.accounts.ensure_credentials(
            module_login=MODULE[0], module_password=MODULE[1], admin_password=ADMIN_PASSWORD
        )
        connector.admin.set_parameter("IgnoreUserStatus", "0", actor="bench")
        connector.admin.set_parameter("SessionExpireSeconds", "86400", actor="bench")
    finally:
        connector.close()


#: the load's events are dated from 12 hours ago on, a millisecond apart per wrk thread (see
#: events.lua), so each run starts where the last one's dates ended: an agent's events then
#: never come older than its last applied one, whatever the order of the runs
SIMULATED_START = 12 * 3600


def create_agents(url: str, session: str, count: int = POOL) -> None:
    """``count`` agents (logins from 100000 on), in batches of 1,000, dated before any load."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - SIMULATED_START - 3600))
    with httpx.Client(base_url=url, timeout=300) as http:
        for start in range(0, count, 1000):
            events = [
                {
                    "eventId": f"setup-{secrets.token_hex(4)}-{n}",
                    "occurredAt": now,
                    "type": "USER_UPDATE",
                    "user": {
                        "login": str(100000 + n),
                        "firstName": "Agent",
                        "familyName": f"Lasttest {n}",
                        "email": f"{100000 + n}@example.com",
                        "language": "de",
                        "admin": False,
                        "phoneNumbers": [str(100000 + n)],
                    },
                }
                for n in range(start, min(count, start + 1000))
            ]
            answer = http.post(
                "/starface/v1/events", json={"events": events}, headers={"X-Session-Id": session}
            )
            answer.raise_for_status()


def open_session(url: str) -> str:
    answer = httpx.post(
        f"{url}/starface/v1/session", json={"login": MODULE[0], "password": MODULE[1]}
    )
    answer.raise_for_status()
    return str(answer.json()["sessionId"])


@dataclass
class Dates:
    """Where the next run's event dates begin (unix seconds)."""

    next: int

    def take(self, events_per_thread: int) -> int:
        start = self.next
        self.next += events_per_thread // 1000 + 2
        return start


def load(
    wrk: str,
    server: Server,
    *,
    batch: int,
    connections: int,
    duration: float,
    session: str,
    dates: Dates,
) -> dict[str, Any]:
    """One wrk run; the figures wrk printed, the server CPU it cost, and a run id."""
    run = f"r{secrets.token_hex(4)}"
    base = dates.next
    env = {
        **os.environ,
        "SC_BATCH": str(batch),
        "SC_POOL": str(POOL),
        "SC_THREADS": str(min(THREADS, connections)),
        "SC_SESSION": session,
        "SC_RUN": run,
        "SC_BASE": str(base),
        "SC_PATH": "/starface/v1/events",
    }
    cpu_before = server.cpu_seconds()
    done = subprocess.run(
        [
            wrk,
            f"-t{min(THREADS, connections)}",
            f"-c{connections}",
            f"-d{round(duration)}s",
            "--timeout",
            "30s",
            "-s",
            str(LUA),
            server.url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = server.cpu_seconds() - cpu_before
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK "))
    figures: dict[str, Any] = json.loads(line[4:])
    threads = min(THREADS, connections)
    dates.take(figures["requests"] * batch // threads + batch)
    seconds = figures["duration_us"] / 1e6
    requests = figures["requests"]
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "run": run,
        "requests": requests,
        "requests_per_s": requests / seconds,
        "events_per_s": requests * batch / seconds,
        "p50_ms": figures["p50_us"] / 1000,
        "p95_ms": figures["p95_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "errors": errors,
        "cpu_ms_per_request": cpu * 1000 / max(requests, 1),
    }


def stale_reasons(database_url: str, run: str, limit: int = 5) -> list[str]:
    connector = bootstrap(Settings(database_url=database_url), migrate=False)
    try:
        with connector.engine.connect() as db:
            return list(
                db.scalars(
                    select(EventLogRow.reason)
                    .where(EventLogRow.event_id.like(f"{run}-%"), EventLogRow.outcome == "stale")
                    .limit(limit)
                )
            )
    finally:
        connector.close()


def outcomes(database_url: str, run: str) -> dict[str, int]:
    """What the connector logged for one run's events, by outcome."""
    connector = bootstrap(Settings(database_url=database_url), migrate=False)
    try:
        with connector.engine.connect() as db:
            rows = db.execute(
                select(EventLogRow.outcome, func.count())
                .where(EventLogRow.event_id.like(f"{run}-%"))
                .group_by(EventLogRow.outcome)
            )
            return {outcome: int(count) for outcome, count in rows}
    finally:
        connector.close()


def measure_database(name: str, args: argparse.Namespace, wrk: str) -> list[dict[str, Any]]:
    """Every (batch, connections) of one database, rounds interleaved across the servers."""
    python = sys.executable
    command = str(Path(python).with_name("starface-connector"))
    rows: list[dict[str, Any]] = []
    with (
        ScratchDatabases(SERVERS[name]) as dbs,
        dbs.fresh() as connector_db,
        dbs.fresh() as bare_db,
    ):
        prepare(connector_db)
        ports = {k: free_port() for k in ("connector", "noop", "insert")}
        env = serve_environment(connector_db)
        ceiling = [python, "-m", "bench.ceiling"]
        serve = [command, "serve", "--port", str(ports["connector"])]
        path = {"PYTHONPATH": str(ROOT)}
        noop_env = {"SC_CEILING": "noop", "SC_PORT": str(ports["noop"]), **path}
        insert_env = {"SC_CEILING": "insert", "SC_PORT": str(ports["insert"]), **path}
        insert_env["SC_DATABASE_URL"] = bare_db
        with (
            running("connector", serve, env, ports["connector"]) as connector,
            running("noop", ceiling, noop_env, ports["noop"]) as noop,
            running("insert", ceiling, insert_env, ports["insert"]) as plain,
        ):
            session = open_session(connector.url)
            create_agents(connector.url, session)
            dates = Dates(int(time.time()) - SIMULATED_START)
            for batch in args.batches:
                for connections in args.connections:
                    samples: dict[str, list[dict[str, Any]]] = {"connector": [], "A": [], "B": []}
                    for _ in range(args.rounds):
                        for key, server in (("connector", connector), ("A", noop), ("B", plain)):
                            samples[key].append(
                                load(
                                    wrk,
                                    server,
                                    batch=batch,
                                    connections=connections,
                                    duration=args.duration,
                                    session=session,
                                    dates=dates,
                                )
                            )
                    logged: Counter[str] = Counter()
                    for sample in samples["connector"]:
                        logged.update(outcomes(connector_db, sample["run"]))
                        if os.environ.get("SC_SHOW_STALE"):
                            print(stale_reasons(connector_db, sample["run"]))
                    rows.append(summarise(name, batch, connections, samples, logged))
                    print_row(rows[-1])
    return rows


def summarise(
    database: str,
    batch: int,
    connections: int,
    samples: dict[str, list[dict[str, Any]]],
    logged: Counter[str],
) -> dict[str, Any]:
    def med(key: str, field: str) -> float:
        return median([s[field] for s in samples[key]])

    row: dict[str, Any] = {"database": database, "batch": batch, "connections": connections}
    for key in ("connector", "A", "B"):
        for field in ("events_per_s", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_request"):
            row[f"{key}_{field}"] = med(key, field)
        row[f"{key}_errors"] = sum(s["errors"] for s in samples[key])
    row["ratio_A"] = row["connector_events_per_s"] / row["A_events_per_s"]
    row["ratio_B"] = row["connector_events_per_s"] / row["B_events_per_s"]
    row["outcomes"] = dict(logged)
    row["rounds"] = {key: samples[key] for key in samples}
    return row


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['database']:10} batch {row['batch']:>3} c{row['connections']:<2}  "
        f"connector {row['connector_events_per_s']:>8.0f} ev/s "
        f"p99 {row['connector_p99_ms']:>7.1f} ms  "
        f"A {row['A_events_per_s']:>8.0f} ({row['ratio_A']:.0%})  "
        f"B {row['B_events_per_s']:>8.0f} ({row['ratio_B']:.0%})  "
        f"errors {row['connector_errors']}  outcomes {row['outcomes']}",
        flush=True,
    )  # fmt: skip


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| database | batch | conn | connector events/s | p50 / p95 / p99 ms | errors | CPU ms/req "
        "| ceiling A events/s | ratio A | ceiling B events/s | ratio B | outcomes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['database']} | {r['batch']} | {r['connections']} "
            f"| {r['connector_events_per_s']:,.0f} "
            f"| {r['connector_p50_ms']:.1f} / {r['connector_p95_ms']:.1f} "
            f"/ {r['connector_p99_ms']:.1f} "
            f"| {r['connector_errors']} | {r['connector_cpu_ms_per_request']:.2f} "
            f"| {r['A_events_per_s']:,.0f} | {r['ratio_A']:.0%} "
            f"| {r['B_events_per_s']:,.0f} | {r['ratio_B']:.0%} "
            f"| {', '.join(f'{k} {v:,}' for k, v in sorted(r['outcomes'].items()))} |"
        )  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench events", description=__doc__)
    parser.add_argument("--databases", default="sqlite,postgresql,mariadb")
    parser.add_argument("--batches", default="1,100")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    args = parser.parse_args(argv)
    args.batches = [int(x) for x in args.batches.split(",")]
    args.connections = [int(x) for x in args.connections.split(",")]
    wrk = ensure_wrk()
    rows: list[dict[str, Any]] = []
    for name in args.databases.split(","):
        rows.extend(measure_database(name, args, wrk))
    table = markdown(rows)
    print("\n" + table)
    publish(
        "events",
        "-".join(args.databases.split(",")),
        {"environment": environment(), "rows": rows, "markdown": table},
    )
