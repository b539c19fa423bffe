"""The connector's memory under a long mixed load: resident size after 10,000 users, then
every half minute of ten minutes of events (and a few logins, whose argon2 checks once kept
a 19 MiB buffer per malloc arena).

    .venv/bin/python -m bench memory [--users 10000] [--minutes 10]

Reported: RSS of the ``serve`` process (all threads) after the users were created and after
each interval, its maximum, and the growth between the middle and the end of the run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import environment, print_table, publish
from bench.events import (
    ADMIN_PASSWORD,
    LUA,
    SIMULATED_START,
    THREADS,
    Dates,
    create_agents,
    ensure_wrk,
    free_port,
    open_session,
    prepare,
    running,
    serve_environment,
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--interval", type=int, default=30)
    args = parser.parse_args(argv)
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="sc-memory-") as folder:
        url = f"sqlite:///{Path(folder) / 'connector.db'}"
        prepare(url)
        port = free_port()
        env = serve_environment(url)
        command = [str(Path(sys.executable).with_name("starface-connector")), "serve"]
        with running("connector", [*command, "--port", str(port)], env, port) as server:
            pid = server.process.pid
            session = open_session(server.url)
            create_agents(server.url, session, args.users)
            samples: list[dict[str, Any]] = [{"minute": 0.0, "rss_mib": rss_mib(pid)}]
            print(f"after {args.users} users: {samples[0]['rss_mib']:.0f} MiB", flush=True)
            dates = Dates(int(time.time()) - SIMULATED_START)
            started = time.monotonic()
            while time.monotonic() - started < args.minutes * 60:
                base = dates.next
                load_env = {
                    **os.environ,
                    "SC_BATCH": "1",
                    "SC_POOL": str(min(args.users, 5000)),
                    "SC_THREADS": str(THREADS),
                    "SC_SESSION": session,
                    "SC_RUN": f"m{secrets.token_hex(3)}",
                    "SC_BASE": str(base),
                    "SC_PATH": "/starface/v1/events",
                }
                done = subprocess.run(
                    [wrk, f"-t{THREADS}", "-c8", f"-d{args.interval}s", "-s", str(LUA), server.url],
                    env=load_env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                requests = int(done.stdout.split('"requests":')[1].split(",")[0])
                dates.take(requests // THREADS + 1)
                for _ in range(5):  # logins: each one an argon2 check on the hasher's thread
                    httpx.post(
                        f"{server.url}/api/v1/auth/login",
                        json={"username": "sysadmin", "password": ADMIN_PASSWORD},
                        timeout=30,
                    )
                minute = (time.monotonic() - started) / 60
                samples.append({"minute": minute, "rss_mib": rss_mib(pid), "requests": requests})
                print(f"{minute:5.1f} min: {samples[-1]['rss_mib']:.0f} MiB", flush=True)
    middle = samples[len(samples) // 2]["rss_mib"]
    summary = {
        "after_users_mib": samples[0]["rss_mib"],
        "max_mib": max(s["rss_mib"] for s in samples),
        "end_mib": samples[-1]["rss_mib"],
        "growth_second_half_mib": samples[-1]["rss_mib"] - middle,
    }
    print_table(["figure", "MiB"], [[k, f"{v:.0f}"] for k, v in summary.items()])
    publish("memory", "sqlite", {"environment": environment(), "samples": samples, **summary})
