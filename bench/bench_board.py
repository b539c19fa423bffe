"""How long a STARFACE event takes to show on an open agent board.

The real ``starface-connector serve`` runs as its own process; a real browser (Debian's
chromium, driven by Playwright) keeps the board open; this process posts events through the
STARFACE contract. For each event the browser stamps, with a MutationObserver, the moment the
agent's row changed; the figure is that moment minus the moment just before the POST (both
from the same machine's wall clock, in milliseconds).

The ceiling, measured in the same run, is the POST's own round trip: no board can know of an
event before the connector has answered it. The difference is the live path (the database
poll, Server-Sent Events, the page's script).

    .venv/bin/python -m bench.bench_board [--events 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from bench.common import environment, print_table, publish, summary

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN, MODULE = ("sysadmin", "bench-admin-secret"), ("bench-module", "bench-module-secret")
#: keeps, in the page, a promise of the moment the agent's telephone cell next changes
WATCH = """login => {
  const cell = document.querySelector(`#board tr[data-login="${login}"] td.phone`);
  const options = {subtree: true, characterData: true, childList: true, attributes: true};
  window.changed = new Promise(resolve => new MutationObserver(() => resolve(Date.now()))
    .observe(cell, options));
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STARFACE_CONNECTOR_DATABASE_URL": database_url,
        "STARFACE_CONNECTOR_ADMIN_PASSWORD": ADMIN[1],
        "STARFACE_CONNECTOR_MODULE_LOGIN": MODULE[0],
        "STARFACE_CONNECTOR_MODULE_PASSWORD": MODULE[1],
    }
    command = [
        str(Path(sys.executable).with_name("starface-connector")),
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("serve did not start within 60 s")


def event(kind: str, number: int, **body: Any) -> dict[str, Any]:
    moment = datetime.now(UTC) + timedelta(microseconds=number)
    return {
        "eventId": f"board-bench-{time.time_ns()}-{number}",
        "occurredAt": moment.isoformat().replace("+00:00", "Z"),
        "type": kind,
        **body,
    }


def measure(url: str, count: int) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=30) as http, sync_playwright() as playwright:
        sid = http.post(
            "/starface/v1/session", json={"login": MODULE[0], "password": MODULE[1]}
        ).json()["sessionId"]
        headers = {"X-Session-Id": sid}
        user = {
            "login": "7001", "firstName": "Bench", "familyName": "Agent", "email": "b@example.com",
            "language": "en", "admin": False, "phoneNumbers": [],
        }  # fmt: skip
        created = http.post(
            "/starface/v1/events",
            json={"events": [event("USER_UPDATE", 0, user=user)]},
            headers=headers,
        )
        assert created.json()["results"][0]["outcome"] == "applied", created.text
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page()
        page.goto(f"{url}/")
        page.fill("#username", ADMIN[0])
        page.fill("#password", ADMIN[1])
        page.click("form button[type=submit]")
        page.wait_for_url(f"{url}/board")
        page.wait_for_function("document.getElementById('live-state').textContent === 'Live'")
        latencies, round_trips = [], []
        statuses = ["RINGING", "BUSY", "IDLE"]
        for number in range(1, count + 1):
            page.evaluate(WATCH, "7001")
            body = {
                "events": [event("PHONE_STATUS", number, login="7001", status=statuses[number % 3])]
            }
            sent = time.time()
            answer = http.post("/starface/v1/events", json=body, headers=headers)
            answered = time.time()
            assert answer.json()["results"][0]["outcome"] == "applied", answer.text
            shown_ms = page.evaluate("() => window.changed")
            latencies.append(shown_ms / 1000 - sent)
            round_trips.append(answered - sent)
            time.sleep(0.05)
        browser.close()
    return {"latency_s": latencies, "post_round_trip_s": round_trips}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sc-board-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'connector.db'}"
        port = free_port()
        process = serve(url, port)
        try:
            figures = measure(f"http://127.0.0.1:{port}", args.events)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
    latency, ceiling = summary(figures["latency_s"]), summary(figures["post_round_trip_s"])
    backend = url.split(":")[0]
    print(f"\n{args.events} PHONE_STATUS events, board open in chromium, serve on {backend}")
    print_table(
        ["figure", "median ms", "max ms"],
        [
            ["event POST -> board row changed", _ms(latency["median"]), _ms(latency["max"])],
            ["ceiling: the POST's own round trip", _ms(ceiling["median"]), _ms(ceiling["max"])],
        ],
    )
    print(f"ratio of the medians (latency / ceiling): {latency['median'] / ceiling['median']:.1f}")
    data = {"environment": environment(), "events": args.events, "raw": figures}
    publish("board", backend, {**data, "latency": latency, "ceiling": ceiling})


if __name__ == "__main__":
    main()
