"""First starts that go wrong, on SQLite, PostgreSQL and MariaDB, in real processes.

* A first start SIGKILLed just before its k-th statement, at 20 points spread over all the
  statements it sends (migrations, seeding, built-in accounts): the next start always
  succeeds and leaves exactly the schema of the models, the standard parameters and working
  accounts. MariaDB commits DDL statement by statement, so this is where a migration that is
  not restartable step by step shows.
* Two ``serve`` started at once on one empty database: both come up, neither prints a
  traceback, and exactly one generates the credentials, which then work on both.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from starface_connector.domain.parameters import DEFAULTS
from starface_connector.storage.db import alembic_config
from starface_connector.storage.tables import Base, BatchLockRow, CredentialRow, ParameterRow
from tests.conftest import (
    ADMIN_PASSWORD,
    BACKENDS,
    MODULE_LOGIN,
    MODULE_PASSWORD,
    REPO_ROOT,
    open_container,
    scratch_database,
    settings_for,
)
from tests.e2e.test_cli import (
    CREDENTIALS,
    Server,
    environment,
    no_traceback,
)
from tests.e2e.traffic import CHILD, start_released
from tests.integration.test_storage import collation_differences, schema_differences
from tests.logbook import keep_output

KILL_POINTS = 20


def child_environment(home: Path) -> dict[str, str]:
    env = environment(home)
    env.update(
        STARFACE_CONNECTOR_MODULE_LOGIN=MODULE_LOGIN,
        STARFACE_CONNECTOR_MODULE_PASSWORD=MODULE_PASSWORD,
        STARFACE_CONNECTOR_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    return env


def first_start(env: dict[str, str], url: str, kill_at: int | None = None) -> tuple[int, str]:
    result = subprocess.run(
        [*CHILD, "first-start", url, *([str(kill_at)] if kill_at else [])],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    keep_output("first-start", result.stdout, result.stderr)
    return result.returncode, result.stdout + result.stderr


WRITES = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")


def kill_points(verbs: list[str], points: int) -> list[int]:
    """``points`` statement numbers (1-based), evenly apart among the statements that change
    the database, from the first to the last: a kill just before one of them is a kill just
    after everything before it (a catalog read in between changes nothing)."""
    writes = [number for number, verb in enumerate(verbs, 1) if verb in WRITES]
    assert len(writes) >= points, verbs
    return sorted({writes[round(i * (len(writes) - 1) / (points - 1))] for i in range(points)})


def assert_complete(url: str) -> None:
    """The next start succeeds and leaves what a start that was never killed leaves."""
    container = open_container(settings_for(url))
    engine = container.engine
    try:
        assert schema_differences(engine, Base.metadata) == []
        assert collation_differences(engine) == []
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_heads() == (head,)
            stored = connection.execute(select(ParameterRow.name, ParameterRow.value)).all()
            assert dict(stored) == DEFAULTS
            assert connection.scalar(select(func.count()).select_from(BatchLockRow)) == 1
            assert connection.scalar(select(func.count()).select_from(CredentialRow)) == 2
        assert container.accounts.open_module_session(MODULE_LOGIN, MODULE_PASSWORD)
        assert container.accounts.sign_in("sysadmin", ADMIN_PASSWORD)
    finally:
        container.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_first_start_killed_at_any_statement_is_completed_by_the_next(
    backend: str, tmp_path: Path
) -> None:
    env = child_environment(tmp_path)
    with scratch_database(backend, tmp_path) as url:
        code, output = first_start(env, url)
        assert code == 0, output
        verbs = re.findall(r"^statement: (\w+)$", output, re.MULTILINE)
        total = len(verbs)
    points = kill_points(verbs, KILL_POINTS)
    assert len(points) == KILL_POINTS
    with ExitStack() as stack:
        urls = [stack.enter_context(scratch_database(backend, tmp_path / str(k))) for k in points]
        # the kills run side by side, each on its own database; the next starts one by one
        # (Alembic's operation proxy is global to a process)
        with ThreadPoolExecutor(max_workers=4) as pool:
            killed = list(pool.map(lambda u, k: first_start(env, u, k), urls, points))
        for k, url, (code, output) in zip(points, urls, killed, strict=True):
            assert code == -signal.SIGKILL, (k, code, output)
            try:
                assert_complete(url)
            except BaseException as exc:
                raise AssertionError(f"killed before statement {k} of {total}: {exc}") from exc


# ---- two instances at once ------------------------------------------------------------------


def wait_for(condition: object, what: str, servers: list[Server], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        exited = [s for s in servers if s.process.poll() is not None]
        if exited:
            for s in exited:
                pytest.fail(f"serve exited with {s.process.returncode}:\n{s.stdout}{s.stderr}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout} s: " + "".join(s.stderr for s in servers))
        time.sleep(0.05)


def answers(server: Server, path: str) -> bool:
    try:
        return httpx.get(f"{server.url}{path}", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_instances_starting_at_once_on_an_empty_database_both_come_up(
    backend: str, tmp_path: Path
) -> None:
    env = environment(tmp_path)  # no credentials given: the first start generates them
    with scratch_database(backend, tmp_path) as url, ExitStack() as stack:
        servers = [start_released(env, url) for _ in range(2)]
        for server in servers:
            stack.callback(server.stop)
        wait_for(lambda: all(s.out for s in servers), "ready", servers)
        for server in servers:  # both released at once
            assert server.process.stdin is not None
            server.process.stdin.write("go\n")
            server.process.stdin.flush()
        wait_for(lambda: all(answers(s, "/readyz") for s in servers), "both ready", servers)

        generated = [CREDENTIALS.search(s.stdout) for s in servers]
        assert sum(found is not None for found in generated) == 1, [s.stdout for s in servers]
        creds = next(found for found in generated if found).groupdict()
        for server in servers:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                opened = http.post(
                    "/starface/v1/session",
                    json={"login": creds["module_login"], "password": creds["module_password"]},
                )
                assert opened.status_code == 200, opened.text
                login = http.post(
                    "/api/v1/auth/login",
                    json={"username": "sysadmin", "password": creds["admin_password"]},
                )
                assert login.status_code == 200, login.text
        for server in servers:
            server.stop()
            no_traceback(server)
