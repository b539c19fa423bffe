"""Event batches during a login flood: latency idle and under flood, side by side.

The real ``starface-connector serve`` runs as its own process. This process sends event
batches one after the other, as the STARFACE module does, and times each. In the flood
rounds a separate process (``python -m bench.flood --attack``) runs 32 clients that loop
wrong logins over the three login routes at a total of about 14 tries per second. Rounds
interleave idle and flood; reported are the medians over the rounds of the batches' p50 and
p99, and their ratio flood / idle (the target: p50 under flood at most twice the idle one).

Two floods, each its own round:

* ``one-address``: every try from one address, as one attacker: throttled after ten failures,
  so argon2 runs ten times and then every try is a 429;
* ``spread``: every try from another address (X-Forwarded-For through a trusted proxy) and as
  another user, as a botnet would: nothing to throttle, so every try costs a strong argon2
  verification, on the hasher's one thread.

    .venv/bin/python -m bench flood [--databases sqlite,postgresql] [--rounds 3]
        [--duration 10] [--batch 20] [--rate 14] [--clients 32]
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    ROOT,
    ScratchDatabases,
    environment,
    median,
    percentile,
    print_table,
    publish,
)
from bench.events import (
    ADMIN_PASSWORD,
    SERVERS,
    free_port,
    open_session,
    running,
    serve_environment,
)
from bench.events import prepare as prepare_accounts

AGENTS = 200
MODES = ("one-address", "spread")


# ---- the attacker: a process of its own -------------------------------------------------------


def attack(url: str, mode: str, clients: int, rate: float, duration: float) -> None:
    """Loop wrong logins from ``clients`` threads, together about ``rate`` tries a second;
    print the answers' status codes as JSON."""
    stop = time.monotonic() + duration
    pause = clients / rate
    counts: Counter[int] = Counter()
    lock = threading.Lock()

    def client(n: int) -> None:
        time.sleep(pause * n / clients)  # spread the starts over one pause
        with httpx.Client(base_url=url, timeout=60) as http:
            tries = 0
            while time.monotonic() < stop:
                started = time.monotonic()
                who = f"flood-{n}-{tries}" if mode == "spread" else f"flood-{n % 4}"
                headers = {}
                if mode == "spread":
                    headers["X-Forwarded-For"] = f"10.{n}.{tries // 250 % 250}.{tries % 250 + 1}"
                route = (n + tries) % 3
                if route == 0:
                    answer = http.post(
                        "/api/v1/auth/login",
                        json={"username": who, "password": "wrong"},
                        headers=headers,
                    )
                elif route == 1:
                    answer = http.post(
                        "/starface/v1/session",
                        json={"login": who, "password": "wrong"},
                        headers=headers,
                    )
                else:
                    answer = http.post(
                        "/login",
                        data={"username": who, "password": "wrong", "csrf": "t"},
                        headers={**headers, "Cookie": "sc_login_csrf=t"},
                    )
                with lock:
                    counts[answer.status_code] += 1
                tries += 1
                time.sleep(max(0.0, pause - (time.monotonic() - started)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({str(code): n for code, n in sorted(counts.items())}), flush=True)


# ---- the measurement -------------------------------------------------------------------------


class Batches:
    """Event batches for the agents, dated a millisecond apart so each is applied."""

    def __init__(self, url: str, session: str, size: int) -> None:
        self.url, self.session, self.size = url, session, size
        self.start = time.time() - 6 * 3600
        self.count = 0

    def create_agents(self, http: httpx.Client) -> None:
        events = [
            self._event(
                "USER_UPDATE",
                user={
                    "login": str(200000 + n),
                    "firstName": "Agent",
                    "familyName": "Flood",
                    "email": f"{200000 + n}@example.com",
                    "language": "de",
                    "admin": False,
                    "phoneNumbers": [],
                },
            )
            for n in range(AGENTS)
        ]
        self._post(http, events)

    def _event(self, kind: str, **body: Any) -> dict[str, Any]:
        self.count += 1
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.start + self.count // 1000))
        stamp = f"{at}.{self.count % 1000:03d}Z"
        event_id = f"flood-{secrets.token_hex(4)}-{self.count}"
        return {"eventId": event_id, "occurredAt": stamp, "type": kind, **body}

    def _post(self, http: httpx.Client, events: list[dict[str, Any]]) -> float:
        started = time.perf_counter()
        answer = http.post(
            f"{self.url}/starface/v1/events",
            json={"events": events},
            headers={"X-Session-Id": self.session},
        )
        elapsed = time.perf_counter() - started
        answer.raise_for_status()
        outcomes = {r["outcome"] for r in answer.json()["results"]}
        if outcomes != {"applied"}:
            raise SystemExit(f"unexpected outcomes {outcomes}: {answer.text[:300]}")
        return elapsed

    def measure(self, http: httpx.Client, duration: float) -> list[float]:
        """Send batches back to back for ``duration`` seconds; each one's seconds."""
        latencies: list[float] = []
        stop = time.monotonic() + duration
        statuses = ("BUSY", "IDLE", "RINGING")
        while time.monotonic() < stop:
            round_ = len(latencies)
            events = [
                self._event(
                    "PHONE_STATUS",
                    login=str(200000 + (round_ * self.size + n) % AGENTS),
                    status=statuses[(round_ * self.size + n) // AGENTS % 3],
                )
                for n in range(self.size)
            ]
            latencies.append(self._post(http, events))
        return latencies


def one_round(
    batches: Batches, http: httpx.Client, mode: str | None, args: argparse.Namespace, url: str
) -> dict[str, Any]:
    attacker = None
    if mode is not None:
        attacker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.flood",
                "--attack",
                url,
                mode,
                str(args.clients),
                str(args.rate),
                str(args.duration + 1),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)  # let the flood start before the batches do
    latencies = batches.measure(http, args.duration)
    answers: dict[str, int] = {}
    if attacker is not None:
        out, _ = attacker.communicate(timeout=120)
        answers = json.loads(out.strip().splitlines()[-1])
    return {
        "batches": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "answers": answers,
    }


def measure_database(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    command = str(Path(sys.executable).with_name("starface-connector"))
    rows: list[dict[str, Any]] = []
    with ScratchDatabases(SERVERS[name]) as dbs, dbs.fresh() as database_url:
        prepare_accounts(database_url)
        port = free_port()
        env = {
            **serve_environment(database_url),
            # the spread flood comes through "a proxy" on the loopback
            "STARFACE_CONNECTOR_TRUSTED_PROXY": "127.0.0.1",
        }
        serve = [command, "serve", "--port", str(port)]
        with running("connector", serve, env, port) as connector:
            session = open_session(connector.url)
            batches = Batches(connector.url, session, args.batch)
            samples: dict[str, list[dict[str, Any]]] = {"idle": [], **{m: [] for m in MODES}}
            with httpx.Client(timeout=60) as http:
                batches.create_agents(http)
                batches.measure(http, 2)  # warm up
                for _ in range(args.rounds):
                    for mode in (None, *MODES):
                        sample = one_round(batches, http, mode, args, connector.url)
                        samples[mode or "idle"].append(sample)
                        print(f"  {name} {mode or 'idle'}: {sample}", flush=True)
            with httpx.Client(base_url=connector.url, timeout=60) as http:
                token = http.post(
                    "/api/v1/auth/login",
                    json={"username": "sysadmin", "password": ADMIN_PASSWORD},
                    headers={"X-Forwarded-For": "192.0.2.250"},  # not the flood's address
                ).json()["token"]
                audited = http.get(
                    "/api/v1/events",
                    params={"type": "LOGIN_THROTTLED", "limit": 1000},
                    headers={"Authorization": f"Bearer {token}"},
                ).json()["items"]
        idle_p50 = median([s["p50_ms"] for s in samples["idle"]])
        idle_p99 = median([s["p99_ms"] for s in samples["idle"]])
        for mode in ("idle", *MODES):
            p50 = median([s["p50_ms"] for s in samples[mode]])
            p99 = median([s["p99_ms"] for s in samples[mode]])
            answers: Counter[str] = Counter()
            for s in samples[mode]:
                answers.update(s["answers"])
            rows.append(
                {
                    "database": name,
                    "load": mode,
                    "batches": sum(s["batches"] for s in samples[mode]),
                    "p50_ms": round(p50, 2),
                    "p99_ms": round(p99, 2),
                    "p50_ratio": round(p50 / idle_p50, 2),
                    "p99_ratio": round(p99 / idle_p99, 2),
                    "login_answers": dict(sorted(answers.items())),
                    "samples": samples[mode],
                }
            )
        rows[-1]["throttle_audit_entries"] = len(audited)
    return rows


def main(argv: list[str]) -> None:
    if argv[:1] == ["--attack"]:
        url, mode, clients, rate, duration = argv[1:6]
        attack(url, mode, int(clients), float(rate), float(duration))
        return
    parser = argparse.ArgumentParser(prog="python -m bench flood")
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rate", type=float, default=14.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for name in args.databases.split(","):
        rows.extend(measure_database(name, args))
    print()
    print_table(
        ["database", "load", "batches", "p50 ms", "p99 ms", "p50 vs idle", "p99 vs idle", "logins"],
        [
            [
                r["database"],
                r["load"],
                r["batches"],
                r["p50_ms"],
                r["p99_ms"],
                r["p50_ratio"],
                r["p99_ratio"],
                " ".join(f"{k}:{v}" for k, v in r["login_answers"].items()),
            ]
            for r in rows
        ],
    )
    publish(
        "flood",
        args.databases.replace(",", "+"),
        {"environment": environment(), "arguments": vars(args), "rows": rows},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
