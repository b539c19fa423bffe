"""A real browser against real servers: Debian's chromium driven by Playwright.

Playwright's own browser download does not work on these machines; ``scripts/test`` installs
Debian's ``chromium`` when it is missing. Under ``CI=true`` a missing browser fails the run.
Every page a test looks at is saved as a screenshot under ``test-output/screenshots/``, and
so is the page of every failing test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from starface_connector.api.app import create_app
from starface_connector.bootstrap import Container
from starface_connector.domain.pbx import PbxSnapshot
from starface_connector.serving import run_in_thread
from starface_connector.simulation import SimulatedPbx, create_simulator_app
from starface_connector.starface.client import StarfaceClient
from starface_connector.web.session import SESSION_COOKIE
from tests.conftest import (
    ADMIN_PASSWORD,
    IN_CI,
    REPO_ROOT,
    Connector,
    open_container,
    reset,
    settings_for,
)
from tests.logbook import remember_secret

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = REPO_ROOT / "test-output" / "screenshots"
PBX_LOGIN, PBX_PASSWORD = "console-import", "pbx-secret-for-tests"
remember_secret("the browser tests' PBX password", PBX_PASSWORD)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (scripts/test installs Debian's chromium)"
        if IN_CI:
            pytest.fail(message + "; CI=true: a missing browser is a failure")
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@dataclass
class Console:
    """A connector (on its own SQLite file) with a PBX simulator, served on 127.0.0.1."""

    url: str
    container: Container
    pbx: SimulatedPbx
    http: httpx.Client

    def connector(self) -> Connector:
        return Connector(self.url, self.http)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    pbx = SimulatedPbx.generate(12, 2, seed=3)
    with ExitStack() as stack:
        sim_url = stack.enter_context(
            run_in_thread(create_simulator_app(pbx, login=PBX_LOGIN, password=PBX_PASSWORD))
        )

        def fetch() -> PbxSnapshot:
            with StarfaceClient(sim_url, PBX_LOGIN, PBX_PASSWORD) as client:
                return client.fetch_snapshot()

        url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'connector.db'}"
        container = open_container(settings_for(url))
        stack.callback(container.close)
        served = stack.enter_context(run_in_thread(create_app(_with_pbx(container, fetch))))
        http = stack.enter_context(httpx.Client(timeout=30))
        yield Console(served, container, pbx, http)


def _with_pbx(container: Container, fetch: Any) -> Container:
    return replace(container, pbx=fetch)


@pytest.fixture
def fresh(console: Console) -> Console:
    """The console's connector on an empty store with standard parameters."""
    reset(console.container.engine)
    return console


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.failed_call = report.failed  # type: ignore[attr-defined]


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    opened = context.new_page()
    yield opened
    if getattr(request.node, "failed_call", False):
        shoot(opened, f"{request.node.name}-FAILED")
    for cookie in context.cookies():  # the console's session must never reach a log either
        if cookie.get("name") == SESSION_COOKIE:
            remember_secret("a console session cookie", cookie.get("value"))
    context.close()


def shoot(page: Page, name: str) -> Path:
    """Keep what the page looks like now, under test-output/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    if password != username:  # a password equal to the UsersUID is no secret
        remember_secret(f"password typed for {username}", password)
    page.goto(f"{url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_as_sysadmin(page: Page, url: str) -> None:
    sign_in(page, url, "sysadmin", ADMIN_PASSWORD)
    page.wait_for_url(f"{url}/board")
