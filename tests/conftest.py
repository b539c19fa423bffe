"""Shared fixtures: real databases (SQLite, PostgreSQL, MariaDB) and a real connector server.

Each backend gets a database of its own for the test run, created here and dropped at the
end. Under ``CI=true`` an unreachable PostgreSQL or MariaDB fails the run instead of skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, delete, text
from sqlalchemy.engine import make_url

from starface_connector.api.app import create_app
from starface_connector.bootstrap import Container, bootstrap
from starface_connector.config import Settings
from starface_connector.domain.parameters import DEFAULTS
from starface_connector.serving import run_in_thread
from starface_connector.storage.tables import (
    EventLogRow,
    GroupMemberRow,
    GroupRow,
    LoginFailureRow,
    ParameterChangeRow,
    ParameterRow,
    SeenEventRow,
    SessionRow,
    TombstoneRow,
    UserRow,
)
from tests import logbook
from tests.logbook import remember_secret

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = ("sqlite", "postgresql", "mariadb")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

MODULE_LOGIN = "starface-module"
MODULE_PASSWORD = "module-secret-for-tests"
ADMIN_PASSWORD = "sysadmin-secret-for-tests"
remember_secret("the tests' module password", MODULE_PASSWORD)
remember_secret("the tests' sysadmin password", ADMIN_PASSWORD)

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO_ROOT.parent / "shared" / "starface" / "starface-rest-api-6.7.0.22.yaml"


def pytest_configure(config: pytest.Config) -> None:
    logbook.start()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    """The secrets grep runs last, after whatever else was selected (added if it was not)."""
    logbook.grep_last(session, items)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"logs of this run (grepped for secrets): {logbook.folder()}")


def _unreachable(backend: str, exc: Exception) -> None:
    message = f"{backend} is not reachable: {str(exc).splitlines()[0]}"
    if IN_CI:
        pytest.fail(message + " (CI=true: an unreachable database is a failure)")
    pytest.skip(message)


@contextmanager
def scratch_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """Create an empty database for ``backend``, yield its URL, drop it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'connector-{secrets.token_hex(4)}.db'}"
        return
    admin_url = PG_ADMIN_URL if backend == "postgresql" else MARIADB_ADMIN_URL
    name = f"sc_test_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        admin.dispose()
        _unreachable(backend, exc)
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(backend, tmp_path_factory.mktemp(backend)) as url:
        yield url


class MovableClock:
    """The connector's clock in tests: real UTC time plus an offset a test moves forward, so
    expiry and idle times are tested without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = timedelta()


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """Settings of a test connector, independent of the environment the tests run in."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "module_login": MODULE_LOGIN,
        "module_password": MODULE_PASSWORD,
        "admin_password": ADMIN_PASSWORD,
        "starface_url": None,
        "starface_login": None,
        "starface_password": None,
        **overrides,
    }
    for name in ("module_password", "admin_password", "starface_password"):
        remember_secret(f"settings' {name}", values.get(name))
    return Settings(**values)


#: every container the tests opened: a reset of their database drops what they hold in memory
OPENED: list[Container] = []


def open_container(settings: Settings, clock: Any | None = None) -> Container:
    """A container as ``serve`` builds it: migrated, with its built-in accounts."""
    container = bootstrap(settings, clock=clock or MovableClock())
    OPENED.append(container)
    container.accounts.ensure_credentials(
        module_login=MODULE_LOGIN, module_password=MODULE_PASSWORD, admin_password=ADMIN_PASSWORD
    )
    return container


@pytest.fixture(scope="session")
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(autouse=True)
def _clock_starts_at_now(clock: MovableClock) -> None:
    """Every test starts with the connector's clock at the real time."""
    clock.reset()


@pytest.fixture(scope="session")
def container(database_url: str, clock: MovableClock) -> Iterator[Container]:
    built = open_container(settings_for(database_url), clock)
    yield built
    built.close()


@pytest.fixture(scope="session")
def engine(container: Container) -> Engine:
    return container.engine


def reset(engine: Engine) -> None:
    """Empty every table a test can fill, and put the parameters back to standard; the
    connectors on this database forget what they hold in memory of it."""
    with engine.begin() as connection:
        for table in (
            GroupMemberRow,
            GroupRow,
            UserRow,
            TombstoneRow,
            SeenEventRow,
            EventLogRow,
            ParameterChangeRow,
            SessionRow,
            LoginFailureRow,
            ParameterRow,
        ):
            connection.execute(delete(table))
        connection.execute(
            ParameterRow.__table__.insert(),
            [{"name": name, "value": value} for name, value in DEFAULTS.items()],
        )
    for opened in OPENED:
        if opened.engine is engine:
            opened.forget()


@pytest.fixture(scope="session")
def server_url(container: Container) -> Iterator[str]:
    with run_in_thread(create_app(container)) as url:
        yield url


@dataclass
class Connector:
    """A client of a running connector, speaking both of its APIs as a person would."""

    url: str
    http: httpx.Client
    session_id: str | None = None
    admin_token: str | None = None
    clock: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    _ids: Any = field(default_factory=lambda: count(1))

    # -- STARFACE side --
    def open_session(
        self, login: str = MODULE_LOGIN, password: str = MODULE_PASSWORD
    ) -> httpx.Response:
        remember_secret(f"password tried for {login}", password)
        response = self.http.post(
            f"{self.url}/starface/v1/session", json={"login": login, "password": password}
        )
        if response.status_code == 200:
            self.session_id = response.json()["sessionId"]
            remember_secret("a module session id", self.session_id)
        return response

    def send(self, *events: dict[str, Any], session_id: str | None = None) -> httpx.Response:
        if self.session_id is None and session_id is None:
            assert self.open_session().status_code == 200
        return self.http.post(
            f"{self.url}/starface/v1/events",
            json={"events": list(events)},
            headers={"X-Session-Id": session_id or self.session_id or ""},
        )

    def results(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.send(*events)
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def one(self, event: dict[str, Any]) -> dict[str, Any]:
        (result,) = self.results(event)
        return result

    # -- event builders: each call gets a fresh id and a later occurredAt --
    def next_event(self, kind: str, *, at: datetime | None = None, **body: Any) -> dict[str, Any]:
        if at is None:
            self.clock += timedelta(seconds=1)
            at = self.clock
        return {
            "eventId": f"evt-{next(self._ids)}-{secrets.token_hex(3)}",
            "occurredAt": at.isoformat().replace("+00:00", "Z"),
            "type": kind,
            **body,
        }

    def user_update(self, login: str, *, at: datetime | None = None, **fields: Any) -> dict:
        user = {
            "login": login,
            "firstName": fields.pop("firstName", "Anna"),
            "familyName": fields.pop("familyName", "Müller"),
            "email": fields.pop("email", f"{login}@example.com"),
            "language": fields.pop("language", "de"),
            "admin": fields.pop("admin", False),
            "phoneNumbers": fields.pop("phoneNumbers", [f"+49 30 {login}"]),
        }
        assert not fields, fields
        return self.next_event("USER_UPDATE", at=at, user=user)

    def user_delete(self, login: str, *, at: datetime | None = None) -> dict:
        return self.next_event("USER_DELETE", at=at, login=login)

    def user_status(self, login: str, status: str, *, at: datetime | None = None) -> dict:
        return self.next_event("USER_STATUS", at=at, login=login, status=status)

    def phone_status(self, login: str, status: str, *, at: datetime | None = None) -> dict:
        return self.next_event("PHONE_STATUS", at=at, login=login, status=status)

    def group_update(
        self, group_id: str | int, name: str, members: list[str], *, at: datetime | None = None
    ) -> dict:
        return self.next_event(
            "GROUP_UPDATE", at=at, group={"id": group_id, "name": name, "members": members}
        )

    # -- jtel side --
    def login(self, username: str, password: str) -> httpx.Response:
        if password != username:  # a password equal to the UsersUID is no secret
            remember_secret(f"password tried for {username}", password)
        response = self.http.post(
            f"{self.url}/api/v1/auth/login", json={"username": username, "password": password}
        )
        if response.status_code == 200:
            remember_secret(f"a token of {username}", response.json().get("token"))
        return response

    def token(self, username: str, password: str) -> str:
        response = self.login(username, password)
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.admin_token is None:
            self.admin_token = self.token("sysadmin", ADMIN_PASSWORD)
        return self.as_token(self.admin_token, method, path, **kwargs)

    def as_token(self, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        body = kwargs.get("json")
        if path.endswith("/password") and isinstance(body, dict):
            remember_secret(f"a password set at {path}", body.get("password"))
        return self.http.request(
            method, f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    def set_param(self, short_name: str, value: str) -> None:
        name = f"Portal.WebServices.Starface.{short_name}"
        response = self.admin("PUT", f"/api/v1/parameters/{name}", json={"value": value})
        assert response.status_code == 200, response.text

    def user(self, login: str) -> dict[str, Any] | None:
        response = self.admin("GET", f"/api/v1/users/{login}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        user: dict[str, Any] = response.json()
        return user


@pytest.fixture
def connector(container: Container, server_url: str, clock: MovableClock) -> Iterator[Connector]:
    reset(container.engine)
    clock.reset()
    with httpx.Client(timeout=30) as http:
        yield Connector(server_url, http)
