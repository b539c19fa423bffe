"""The real ``starface-connector`` command, run as a person would run it, in subprocesses.

Every test gets its own data folder (``XDG_DATA_HOME``) or an explicit ``--database-url``;
servers run in their own process group and are always stopped, with a kill as last resort.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from starface_connector.domain.model import (
    GroupUpdate,
    LoginStatus,
    PhoneStatus,
    PhoneStatusChange,
    Profile,
    UserStatusChange,
    UserUpdate,
)
from tests.conftest import (
    MODULE_LOGIN,
    MODULE_PASSWORD,
    open_container,
    scratch_database,
    settings_for,
)
from tests.logbook import keep_output, process_files, remember_command_secrets

PFX = "Portal.WebServices.Starface."
IGNORE_USER_STATUS = PFX + "IgnoreUserStatus"
SESSION_SECONDS = PFX + "SessionExpireSeconds"
PARAMETERS = {
    PFX + "IgnoreGroupUpdate": "1",
    PFX + "IgnoreUserDeletes": "1",
    PFX + "IgnoreUserSecurity": "1",
    IGNORE_USER_STATUS: "1",
    SESSION_SECONDS: "300",
    PFX + "UserPasswordSetUID": "1",
    PFX + "DndPausesAgent": "0",
}

_script = Path(sys.executable).with_name("starface-connector")
COMMAND = [str(_script)] if _script.exists() else [sys.executable, "-m", "starface_connector"]
UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/x"


def environment(home: Path, *, columns: int | None = 200) -> dict[str, str]:
    """A clean environment: no connector settings inherited, a private data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARFACE_CONNECTOR_")}
    env.pop("COLUMNS", None)
    env.update(XDG_DATA_HOME=str(home / "data"), HOME=str(home / "home"), NO_COLOR="1")
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    remember_command_secrets(env, args)
    result = subprocess.run(
        [*COMMAND, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    keep_output(" ".join(args[:2]), result.stdout, result.stderr)
    return result


def no_traceback(result: subprocess.CompletedProcess[str] | Server) -> None:
    text = f"{result.stdout}\n{result.stderr}"
    assert "Traceback" not in text, text
    assert 'File "' not in text, text


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def default_db(home: Path) -> Path:
    return home / "data" / "starface-connector" / "connector.db"


# ---- a running server -----------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
            except ProcessLookupError:
                pass
        return self.process.wait(5)


def _pump(stream: object, sink: list[str], kept: Path | None = None) -> None:
    with kept.open("a", encoding="utf-8") if kept else nullcontext() as copy:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line)
            if copy is not None:
                copy.write(line)
                copy.flush()


def start_pumps(server: Server, name: str = "serve") -> list[threading.Thread]:
    """Read the server's stdout and stderr as they come (a full pipe would block it), and
    keep both in the run's log folder for the secrets grep."""
    process = server.process
    out, err = process_files(name)
    pumps = [
        threading.Thread(target=_pump, args=(process.stdout, server.out, out), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, server.err, err), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    return pumps


@contextmanager
def serving(env: dict[str, str], *args: str, port: int | None = None) -> Iterator[Server]:
    port = port or free_port()
    remember_command_secrets(env, args)
    process = subprocess.Popen(
        [*COMMAND, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: stopped as a whole
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    pumps = start_pumps(server)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                for pump in pumps:
                    pump.join(5)
                pytest.fail(
                    f"serve exited with {process.returncode}:\n{server.stdout}{server.stderr}"
                )
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"serve did not answer within 60 s:\n{server.stdout}{server.stderr}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()
        for pump in pumps:
            pump.join(5)


CREDENTIALS = re.compile(
    r"STARFACE module account: login (?P<module_login>\S+)\s+password (?P<module_password>\S+)\n"
    r"\s*jtel sysadmin: login sysadmin\s+password (?P<admin_password>\S+)\n"
)


# ---- help -----------------------------------------------------------------------------------


def test_python_m_help_lists_every_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "starface_connector", "--help"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    for command in ("serve", "params", "users", "events", "db", "purge"):
        assert re.search(rf"^\W*{command}\s", result.stdout, re.MULTILINE), command
    assert result.stderr == ""
    assert not default_db(tmp_path).exists()  # help touches no database


# ---- serve: the README flow -----------------------------------------------------------------

README_EVENT = {
    "eventId": "e-1",
    "occurredAt": "2026-11-25T10:00:00Z",
    "type": "USER_UPDATE",
    "user": {
        "login": "1001",
        "firstName": "Anna",
        "familyName": "Müller",
        "email": "anna@example.com",
        "language": "de",
        "admin": False,
        "phoneNumbers": ["+49 30 1234"],
    },
}


def test_serve_first_start_readme_flow_and_second_start(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with serving(env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        found = CREDENTIALS.search(server.stdout)
        assert found, server.stdout
        creds = found.groupdict()
        assert creds["module_login"] == "starface-module"
        assert server.stdout.count("Generated credentials") == 1
        assert default_db(tmp_path).exists()

        # 1. open a session as the STARFACE module
        opened = http.post(
            "/starface/v1/session",
            json={"login": creds["module_login"], "password": creds["module_password"]},
        )
        assert opened.status_code == 200, opened.text
        assert opened.json()["expiresInSeconds"] == 300
        sid = {"X-Session-Id": opened.json()["sessionId"]}
        # 2. send a USER_UPDATE
        sent = http.post("/starface/v1/events", json={"events": [README_EVENT]}, headers=sid)
        assert sent.status_code == 200, sent.text
        (result,) = sent.json()["results"]
        assert (result["eventId"], result["outcome"]) == ("e-1", "applied")
        assert result["reason"].startswith("created user 1001;")
        # 3. the user is in jtel
        login = http.post(
            "/api/v1/auth/login",
            json={"username": "sysadmin", "password": creds["admin_password"]},
        )
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['token']}"}
        listing = http.get("/api/v1/users", headers=bearer)
        assert listing.status_code == 200, listing.text
        assert listing.json()["total"] == 1
        (user,) = listing.json()["items"]
        assert (user["usersUid"], user["firstName"], user["lastName"]) == ("1001", "Anna", "Müller")
        assert (user["acdStatus"], user["phoneStatus"]) == ("LOGGED_OFF", "OFFLINE")
        assert user["phoneNumbers"] == ["+49 30 1234"]

        # the CLI changes a parameter of the running server's database; the next event sees it
        assert http.post(
            "/starface/v1/events",
            json={"events": [status_event("s-1", "2026-11-25T10:01:00Z")]},
            headers=sid,
        ).json()["results"][0]["reason"] == (f"ignored: {IGNORE_USER_STATUS}=1")
        changed = cli(env, "params", "set", IGNORE_USER_STATUS, "0")
        assert changed.returncode == 0, changed.stderr
        # said on the default database, the one serve runs on
        assert after_database_line(changed.stdout, f"sqlite:///{default_db(tmp_path)}") == [
            f"{IGNORE_USER_STATUS}: 1 -> 0"
        ]
        time.sleep(1.1)  # another process's change reaches serve within a second (documented)
        (after,) = http.post(
            "/starface/v1/events",
            json={"events": [status_event("s-2", "2026-11-25T10:02:00Z")]},
            headers=sid,
        ).json()["results"]
        assert after["outcome"] == "applied", after
        assert http.get("/api/v1/users/1001", headers=bearer).json()["acdStatus"] == (
            "CALLS_AND_MEDIA"
        )
        history = http.get("/api/v1/parameters/changes", headers=bearer).json()
        assert [(a["name"], a["oldValue"], a["newValue"], a["actor"]) for a in history] == [
            (IGNORE_USER_STATUS, "1", "0", "cli")
        ]
    assert server.process.returncode is not None
    no_traceback(server)

    # second start on the same data: nothing generated, nothing printed, the old secrets hold
    with serving(env) as again, httpx.Client(base_url=again.url, timeout=30) as http:
        assert "Generated credentials" not in again.stdout
        assert creds["module_password"] not in again.stdout + again.stderr
        assert creds["admin_password"] not in again.stdout + again.stderr
        assert "Starface Connector on" in again.stdout
        opened = http.post(
            "/starface/v1/session",
            json={"login": creds["module_login"], "password": creds["module_password"]},
        )
        assert opened.status_code == 200, opened.text
        token = http.post(
            "/api/v1/auth/login",
            json={"username": "sysadmin", "password": creds["admin_password"]},
        ).json()["token"]
        user = http.get("/api/v1/users/1001", headers={"Authorization": f"Bearer {token}"})
        assert user.json()["acdStatus"] == "CALLS_AND_MEDIA"
        code = again.stop(signal.SIGINT)  # Ctrl-C
    assert code in (0, 130, -signal.SIGINT), code
    no_traceback(again)


def status_event(event_id: str, occurred_at: str) -> dict[str, str]:
    return {
        "eventId": event_id,
        "occurredAt": occurred_at,
        "type": "USER_STATUS",
        "login": "1001",
        "status": "LOGGED_IN",
    }


# ---- user mistakes: one line, non-zero exit, no traceback -----------------------------------


def one_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["params", "list", "--database-url", "nonsense"],
            ["not a database URL: 'nonsense'"],
        ),
        (
            ["db", "upgrade", "--database-url", UNREACHABLE_PG],
            ["cannot reach database postgresql+psycopg://postgres@127.0.0.1:1/x", "refused"],
        ),
        (
            ["params", "set", IGNORE_USER_STATUS, "7"],
            [f"{IGNORE_USER_STATUS} must be 0 or 1, not '7'"],
        ),
        (
            ["params", "set", SESSION_SECONDS, "5"],
            [f"{SESSION_SECONDS} must be between 10 and 86400 seconds, not '5'"],
        ),
        (
            ["params", "set", "IgnoreUserStatuses", "0"],
            ["unknown parameter 'IgnoreUserStatuses'; known: ", IGNORE_USER_STATUS],
        ),
        (["params", "get", "Nope"], ["unknown parameter 'Nope'; known: "]),
        (
            ["purge", "--older-than", "90"],
            ["--older-than: not a duration: '90' (write a number and a unit, e.g. 90d"],
        ),
        (
            ["purge", "--event-ids-older-than", "30min"],
            ["--event-ids-older-than: not a duration: '30min'"],
        ),
        (
            ["purge", "--older-than", "0.5h"],
            ["--older-than: '0.5h' is too short: keep at least 1h"],
        ),
        (
            ["purge", "--event-ids-older-than", "99999999999999999999w"],
            ["--event-ids-older-than: '99999999999999999999w' is too long: at most 36500d"],
        ),
        # bytes that are no UTF-8 (a Latin-1 terminal, a surrogate's own bytes)
        (["users", "list", "--search", "M\udcfcller"], ["--search: not valid UTF-8 text"]),
        (["users", "list", "--search", "\udced\udca0\udc80"], ["--search: not valid UTF-8"]),
        (["events", "tail", "--login", "a\udcff"], ["--login: not valid UTF-8 text"]),
        (["users", "list", "--search", "x" * 201], ["--search is longer than 200 characters"]),
        (["events", "tail", "--login", "x" * 129], ["--login is longer than 128 characters"]),
        (
            ["serve", "--trusted-proxy", "10.0.0.0/8,10.0.0.1/8"],
            ["--trusted-proxy: '10.0.0.1/8' is not an IP address or network"],
        ),
    ],
    ids=[
        "bad-url",
        "unreachable-db",
        "flag-7",
        "seconds-5",
        "unknown-set",
        "unknown-get",
        "purge-no-unit",
        "purge-bad-unit",
        "purge-too-short",
        "purge-too-long",
        "search-latin1",
        "search-surrogate",
        "login-not-utf8",
        "search-too-long",
        "login-too-long",
        "trusted-proxy",
    ],
)
def test_user_mistakes_get_one_clear_line(
    tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    result = cli(environment(tmp_path), *args)
    one_error_line(result, *fragments)
    assert result.stdout == ""
    assert not default_db(tmp_path).exists()  # nothing was created or changed


def test_a_bad_trusted_proxy_in_the_environment_gets_one_line(tmp_path: Path) -> None:
    env = {**environment(tmp_path), "STARFACE_CONNECTOR_TRUSTED_PROXY": "127.0.0.1 proxy.lan"}
    line = one_error_line(cli(env, "serve"), "STARFACE_CONNECTOR_TRUSTED_PROXY: ")
    assert "'proxy.lan' is not an IP address or network" in line
    assert not default_db(tmp_path).exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["serve", "--port", "99999"], "Invalid value for '--port'"),
        (["serve", "--database-timeout", "0.5"], "Invalid value for '--database-timeout'"),
        (["simulate", "--error-rate", "2"], "Invalid value for '--error-rate'"),
        (["events", "tail", "-n", "0"], "Invalid value for '-n' / '--lines'"),
        (["nonsense"], "No such command 'nonsense'"),
    ],
    ids=["port", "database-timeout", "error-rate", "lines", "command"],
)
def test_usage_mistakes_get_one_line_and_exit_2(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = cli(environment(tmp_path), *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    no_traceback(result)
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("error: ")
    ]
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "args", "fragment"),
    [
        ("STARFACE_CONNECTOR_MAX_BODY_BYTES", "abc", ["params", "list"], "MAX_BODY_BYTES"),
        (
            "STARFACE_CONNECTOR_DATABASE_URL",
            "postgresql://u:hunter2@h:abc/db",
            ["db", "upgrade"],
            "not a database URL",
        ),
        (
            "STARFACE_CONNECTOR_STARFACE_URL",
            "ftp://pbx",
            ["import", "--starface-login", "a", "--starface-password", "b"],
            "must be an http:// or https:// address",
        ),
        (
            "STARFACE_CONNECTOR_EVENT_ID_RETENTION",
            "soon",
            ["purge"],
            "STARFACE_CONNECTOR_EVENT_ID_RETENTION: Value error, not a duration: 'soon'",
        ),
        (
            "STARFACE_CONNECTOR_MAX_GROUP_MEMBERS",
            "0",
            ["db", "upgrade"],
            "STARFACE_CONNECTOR_MAX_GROUP_MEMBERS: Input should be greater than or equal to 1",
        ),
        (
            "STARFACE_CONNECTOR_DATABASE_TIMEOUT_SECONDS",
            "0",
            ["db", "upgrade"],
            "STARFACE_CONNECTOR_DATABASE_TIMEOUT_SECONDS: Input should be greater than or equal "
            "to 1",
        ),
    ],
    ids=[
        "env-int",
        "db-url-with-password",
        "pbx-url",
        "env-retention",
        "env-member-limit",
        "env-database-timeout",
    ],
)
def test_bad_settings_get_one_line_and_never_echo_a_password(
    tmp_path: Path, variable: str, value: str, args: list[str], fragment: str
) -> None:
    result = cli(environment(tmp_path) | {variable: value}, *args)
    line = one_error_line(result, fragment)
    assert "hunter2" not in line


def test_serve_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]
        result = cli(environment(tmp_path), "serve", "--port", str(port), timeout=60)
    one_error_line(result, f"port {port} on 127.0.0.1 is already in use")
    assert "Generated credentials" not in result.stdout


# ---- params, users, events, db --------------------------------------------------------------


def test_params_get_set_list_round_trip_is_logged(tmp_path: Path) -> None:
    db = tmp_path / "explicit" / "connector.db"
    url = f"sqlite:///{db}"
    env = environment(tmp_path)
    changed = cli(env, "params", "set", SESSION_SECONDS, " 0600 ", "--database-url", url)
    assert changed.returncode == 0, changed.stderr
    assert after_database_line(changed.stdout, url) == [f"{SESSION_SECONDS}: 300 -> 600"]
    assert db.exists()
    assert not default_db(tmp_path).exists()  # --database-url wins over the data folder
    got = cli(env, "params", "get", SESSION_SECONDS, "--database-url", url)
    # the value alone on stdout, for scripts; which database on stderr
    assert (got.returncode, got.stdout, got.stderr) == (0, "600\n", f"database: {url}\n")
    listed = cli(env, "params", "list", "--database-url", url)
    assert listed.returncode == 0, listed.stderr
    values = parameter_rows("\n".join(after_database_line(listed.stdout, url)))
    assert values == {**PARAMETERS, SESSION_SECONDS: "600"}
    short = cli(env, "params", "get", "SessionExpireSeconds", "--database-url", url)
    assert (short.returncode, short.stdout) == (0, "600\n"), short.stderr  # the last part will do
    for result in (got, changed, listed, short):
        no_traceback(result)
    container = open_container(settings_for(url))
    try:
        changes = container.views.parameter_changes()
        assert [(c.name, c.old_value, c.new_value, c.actor) for c in changes] == [
            (SESSION_SECONDS, "300", "600", "cli")
        ]
    finally:
        container.close()


def after_database_line(stdout: str, url: str) -> list[str]:
    """The lines after the first, which must say which database the command opened."""
    first, *rest = stdout.strip().splitlines()
    assert first == f"database: {url}", stdout
    return rest


def parameter_rows(table: str) -> dict[str, str]:
    """name -> value from the rows of the ``params list`` table."""
    rows = re.findall(r"(Portal\.WebServices\.Starface\.\w+)\s*\W\s*(\d+)\s", table)
    return dict(rows)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An SQLite database with two users and a few logged events, written by the service."""
    db = tmp_path_factory.mktemp("populated") / "connector.db"
    url = f"sqlite:///{db}"
    container = open_container(settings_for(url))
    try:
        container.admin.set_parameter(IGNORE_USER_STATUS, "0", actor="test")
        t = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
        anna = Profile("Anna", "Müller-Lüdenscheidt", "anna.mueller@example.com", "de", ())
        ben = Profile("Ben", "Berg", "ben@example.com", "en", ())
        container.events.apply_batch(
            [
                UserUpdate("p-1", t, "1001", anna, False),
                UserUpdate("p-2", t, "1002", ben, False),
                UserStatusChange("p-3", t, "1001", LoginStatus.LOGGED_IN),
                PhoneStatusChange("p-4", t, "1002", PhoneStatus.RINGING),
                PhoneStatusChange("p-5", t, "ghost", PhoneStatus.IDLE),
            ],
        )
    finally:
        container.close()
    return url


def run_all(env: dict[str, str], *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent read-only commands side by side."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: cli(env, *args), commands))


def test_users_list_events_tail_and_db_upgrade(tmp_path: Path, populated: str) -> None:
    env = environment(tmp_path)
    users, tail, upgraded = run_all(
        env,
        ["users", "list", "--database-url", populated],
        ["events", "tail", "-n", "2", "--database-url", populated],
        ["db", "upgrade", "--database-url", populated],
    )
    for result in (users, tail, upgraded):
        assert result.returncode == 0, result.stderr
        no_traceback(result)
    assert "2 of 2 user(s)" in users.stdout
    rows = [line for line in users.stdout.splitlines() if re.search(r"\b100[12]\b", line)]
    assert len(rows) == 2, users.stdout
    assert "CALLS_AND_MEDIA" in rows[0] and "OFFLINE" in rows[0]
    assert "LOGGED_OFF" in rows[1] and "RINGING" in rows[1]
    # which database, then the newest two entries, oldest first, one line each
    lines = after_database_line(tail.stdout, populated)
    assert len(lines) == 2, tail.stdout
    assert re.search(
        r"PHONE_STATUS\s+1002\s+applied\s+telephone status OFFLINE -> RINGING$", lines[0]
    )
    assert re.search(r"PHONE_STATUS\s+ghost\s+rejected\s+rejected: unknown user ghost$", lines[1])
    assert upgraded.stdout == f"database {populated} is up to date\n"
    container = open_container(settings_for(populated))
    try:  # and the database is still what the service wrote
        assert container.views.users(limit=10).total == 2
    finally:
        container.close()


@pytest.fixture(scope="module")
def piped(tmp_path_factory: pytest.TempPathFactory, populated: str) -> dict[str, str]:
    """What params list, users list and events tail print into a pipe (no COLUMNS set), as in
    ``| grep``, a script or a cron job; run side by side."""
    env = environment(tmp_path_factory.mktemp("piped"), columns=None)
    commands = {
        "params": ["params", "list", "--database-url", populated],
        "users": ["users", "list", "--database-url", populated],
        "events": ["events", "tail", "-n", "5", "--database-url", populated],
    }
    results = run_all(env, *commands.values())
    for result in results:
        assert result.returncode == 0, result.stderr
    return {name: result.stdout for name, result in zip(commands, results, strict=True)}


def test_params_list_shows_whole_names(piped: dict[str, str]) -> None:
    assert parameter_rows(piped["params"]) == {**PARAMETERS, IGNORE_USER_STATUS: "0"}


def test_users_list_shows_whole_values(piped: dict[str, str]) -> None:
    for value in ("anna.mueller@example.com", "Müller-Lüdenscheidt", "CALLS_AND_MEDIA"):
        assert value in piped["users"]


def test_events_tail_prints_one_line_per_event(piped: dict[str, str], populated: str) -> None:
    lines = after_database_line(piped["events"], populated)
    assert len(lines) == 5, piped["events"]
    assert lines[0].endswith(f"admin flag not taken ({PFX}IgnoreUserSecurity=1)")


def test_the_console_script_is_what_these_tests_run() -> None:
    assert [str(_script)] == COMMAND, "starface-connector is not installed next to python"


def test_status_groups_and_imports_say_what_an_administrator_asks_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    container = open_container(settings_for(url))
    try:
        container.admin.set_parameter("IgnoreGroupUpdate", "0", actor="test")
        now = container.clock()
        anna = Profile("Anna", "Müller", "anna@example.com", "de", ())
        container.events.apply_batch(
            [
                UserUpdate("o-1", now, "1001", anna, False),
                GroupUpdate("o-2", now, "42", "Kundenservice", ("1001",)),
                PhoneStatusChange("o-3", now, "ghost", PhoneStatus.IDLE),
            ]
        )
        assert container.accounts.open_module_session(MODULE_LOGIN, MODULE_PASSWORD)
    finally:
        container.close()
    env = environment(tmp_path)
    status, groups, imports = run_all(
        env,
        ["status", "--database-url", url],
        ["groups", "list", "--database-url", url],
        ["imports", "list", "--database-url", url],
    )
    for result in (status, groups, imports):
        assert result.returncode == 0, result.stderr
        no_traceback(result)
    lines = after_database_line(status.stdout, url)
    assert "last import       none yet" in lines
    assert "module sessions   1 open" in lines
    counts = dict(re.findall(r"^\W*(applied|rejected|all)\W+(\d+)", status.stdout, re.MULTILINE))
    # the user, the group and the parameter change applied; the ghost's event rejected
    assert counts == {"applied": "3", "rejected": "1", "all": "4"}
    assert re.search(r"42\W+Kundenservice\W+1\W+1001", groups.stdout), groups.stdout
    assert "1 group(s)" in groups.stdout
    assert after_database_line(imports.stdout, url)[-1] == "0 import(s)"


def test_postgres_urls_are_postgresql(tmp_path: Path) -> None:
    """``postgres://`` is libpq's and many hosters' spelling; it names PostgreSQL too."""
    with scratch_database("postgresql", tmp_path) as url:
        spelled = url.replace("postgresql+psycopg://", "postgres://")
        result = cli(
            environment(tmp_path), "params", "get", "IgnoreUserStatus", "--database-url", spelled
        )
        assert (result.returncode, result.stdout) == (0, "1\n"), result.stderr
        assert result.stderr.startswith("database: postgresql+psycopg://postgres@127.0.0.1")


def test_serve_counts_failed_logins_by_forwarded_for_only_behind_a_trusted_proxy(
    tmp_path: Path,
) -> None:
    env = {**environment(tmp_path), "STARFACE_CONNECTOR_ADMIN_PASSWORD": "admin-secret-for-e2e"}

    def fail(http: httpx.Client, n: int, forwarded: str) -> int:
        body = {"username": f"nobody{n}", "password": "wrong"}
        headers = {"X-Forwarded-For": forwarded}
        return http.post("/api/v1/auth/login", json=body, headers=headers).status_code

    with (
        serving(env, "--trusted-proxy", "127.0.0.1") as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        assert [fail(http, n, "203.0.113.7") for n in range(11)] == [401] * 10 + [429]
        assert fail(http, 11, "203.0.113.8") == 401  # another client behind the proxy
    with (
        serving(env) as server,  # no trusted proxy: the header is ignored
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        answers = [fail(http, n, f"198.51.100.{n}") for n in range(20, 31)]
        assert answers == [401] * 10 + [429], answers  # all counted under 127.0.0.1
