"""The STARFACE-side commands end to end, as real processes: serve with a PBX (import at start
and on demand), simulate pushing to a connector, and the one-command demo."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from starface_connector.serving import run_in_thread
from starface_connector.simulation import SimulatedPbx, create_simulator_app
from tests.e2e.test_cli import COMMAND, environment, free_port, no_traceback, serving
from tests.logbook import keep_output

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "sysadmin-e2e-secret"
MODULE = ("module-e2e", "module-e2e-secret")


@contextmanager
def admin_client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as http:
        token = http.post(
            "/api/v1/auth/login", json={"username": "sysadmin", "password": ADMIN_PASSWORD}
        )
        assert token.status_code == 200, token.text
        http.headers["Authorization"] = f"Bearer {token.json()['token']}"
        yield http


def wait_for(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_serve_with_a_pbx_imports_at_start_and_on_demand(tmp_path: Path) -> None:
    pbx = SimulatedPbx.generate(25, 3, seed=5)
    env = environment(tmp_path) | {"STARFACE_CONNECTOR_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with run_in_thread(create_simulator_app(pbx, password="pbx-pw")) as pbx_url:
        pbx_args = ("--starface-url", pbx_url, "--starface-login", "admin")
        args = (*pbx_args, "--starface-password", "pbx-pw", "--import-interval", "60")
        with serving(env, *args) as server, admin_client(server.url) as http:

            def imported() -> bool:
                return http.get("/api/v1/users", params={"limit": 1}).json()["total"] == 25

            wait_for(imported, "the import at start")
            assert f"Importing from {pbx_url} now and every 60 min" in server.stdout
            new_id = pbx.add_user(first_name="Zoé", family_name="Lefèvre", login="2001")

            dry = http.post("/api/v1/import", params={"dryRun": "true"})
            assert dry.status_code == 200, dry.text
            assert dry.json()["dryRun"] is True
            assert dry.json()["users"]["created"] == ["2001"]
            assert http.get("/api/v1/users/2001").status_code == 404  # a dry run writes nothing

            real = http.post("/api/v1/import")
            assert real.status_code == 200, real.text
            assert real.json()["users"]["created"] == ["2001"]
            user = http.get("/api/v1/users/2001").json()
            assert (user["firstName"], user["lastName"]) == ("Zoé", "Lefèvre")
            runs = http.get("/api/v1/imports").json()
            assert [r["trigger"] for r in runs][:3] == ["api", "api", "schedule"]
            assert [r["dryRun"] for r in runs][:2] == [False, True]
            assert all(r["status"] == "done" for r in runs)
            assert pbx.user_id_for_login("2001") == new_id
    no_traceback(server)


def test_serve_rejects_a_pbx_url_without_credentials(tmp_path: Path) -> None:
    result = subprocess.run(
        [*COMMAND, "serve", "--port", str(free_port()), "--starface-url", "http://127.0.0.1:1"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --starface-url needs --starface-login and --starface-password too"
    ]
    no_traceback(result)


def test_simulate_pushes_users_and_live_traffic_to_a_connector(tmp_path: Path) -> None:
    env = environment(tmp_path) | {
        "STARFACE_CONNECTOR_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STARFACE_CONNECTOR_MODULE_LOGIN": MODULE[0],
        "STARFACE_CONNECTOR_MODULE_PASSWORD": MODULE[1],
    }
    with serving(env) as server, admin_client(server.url) as http:
        simulated = subprocess.run(
            [
                *COMMAND,
                "simulate",
                "--port",
                "0",
                "--users",
                "12",
                "--push-to",
                server.url,
                "--rate",
                "30",
                "--duration",
                "3",
            ],
            env=env,  # the module account comes from the same environment variables
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        keep_output("simulate", simulated.stdout, simulated.stderr)
        assert simulated.returncode == 0, simulated.stderr
        assert "STARFACE simulator: http://127.0.0.1:" in simulated.stdout
        assert f"pushing events to {server.url} at 30/s" in simulated.stdout
        users = http.get("/api/v1/users").json()
        assert users["total"] >= 12  # the pusher may add a PBX user or two on the way
        phone = http.get("/api/v1/events", params={"type": "PHONE_STATUS", "limit": 1000})
        applied = [e for e in phone.json()["items"] if e["outcome"] == "applied"]
        assert len(applied) >= 10, phone.json()
    no_traceback(simulated)


def readme_try_it_by_hand() -> str:
    """The shell block of the README's "Try it by hand", exactly as printed there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it by hand", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_demo_starts_everything_and_prints_what_to_open(tmp_path: Path) -> None:
    port = free_port()
    demo = subprocess.Popen(
        [*COMMAND, "demo", "--port", str(port), "--duration", "300"],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        shown: list[str] = []
        for line in demo.stdout:  # until the demo says it is up
            shown.append(line)
            if "Ctrl-C stops the demo." in line:
                break
        out = "".join(shown)
        assert "Starface Connector demo is running" in out, out
        assert f"connector API     http://127.0.0.1:{port}" in out
        assert f"web console       http://127.0.0.1:{port}/" in out
        assert re.search(r"created\s+.\s+50\s+.\s+5\s+.", out), out  # the import's table
        password = re.search(r"jtel sysadmin\s+login sysadmin\s+password (\S+)", out)
        module = re.search(r"STARFACE module\s+login starface-module\s+password (\S+)", out)
        agent = re.search(r"an agent\s+login (\S+)\s+password (\S+)", out)
        export = re.search(
            r"^\s*export STARFACE_CONNECTOR_DATABASE_URL=(sqlite:///\S+)$", out, re.M
        )
        assert password and module and agent and export, out
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            token = http.post(
                "/api/v1/auth/login",
                json={"username": "sysadmin", "password": password.group(1)},
            )
            assert token.status_code == 200, token.text
            headers = {"Authorization": f"Bearer {token.json()['token']}"}
            assert http.get("/api/v1/users", headers=headers).json()["total"] >= 50
            assert len(http.get("/api/v1/groups", headers=headers).json()) == 5
            me = http.post(
                "/api/v1/auth/login",
                json={"username": agent.group(1), "password": agent.group(2)},
            )
            assert me.status_code == 200, me.text

            def live_traffic() -> bool:
                events = http.get(
                    "/api/v1/events", params={"type": "PHONE_STATUS"}, headers=headers
                ).json()["items"]
                return any(e["outcome"] == "applied" for e in events)

            wait_for(live_traffic, "live phone events from the simulated PBX", timeout=15)

        # The README's example, as printed, with the values the demo printed pasted in.
        script = readme_try_it_by_hand()
        for name, value in (
            ("URL", f"http://127.0.0.1:{port}"),
            ("MODULE_PASSWORD", f"'{module.group(1)}'"),
            ("ADMIN_PASSWORD", f"'{password.group(1)}'"),
        ):
            script, pasted = re.subn(rf"^{name}=.*$", f"{name}={value}", script, flags=re.M)
            assert pasted == 1, name
        tried = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
        )
        assert tried.returncode == 0, tried.stderr
        sent, user = tried.stdout.strip().splitlines()[-2:]
        assert '"outcome":"applied","reason":"created user 2001;' in sent, tried.stdout
        assert '"usersUid":"2001"' in user and '"acdStatus":"LOGGED_OFF"' in user, user

        # The other commands reach the demo's database through the printed export line.
        env = environment(tmp_path) | {"STARFACE_CONNECTOR_DATABASE_URL": export.group(1)}
        listed = subprocess.run(
            [*COMMAND, "users", "list", "--search", "2001"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.startswith(f"database: {export.group(1)}\n")
        assert "1 of 1 user(s)" in listed.stdout

        demo.send_signal(signal.SIGINT)  # Ctrl-C
        rest, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err
    assert "Traceback" not in out + rest + err
