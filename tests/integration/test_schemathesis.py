"""Schemathesis over both APIs, signed in, on SQLite, PostgreSQL and MariaDB (issue 8, item 7).

Every operation of /openapi.json goes through schemathesis's coverage phase (boundary and
invalid values of every parameter and field, missing credentials) and its fuzzing phase (up to
100 generated examples, valid and invalid, derandomized) against a real connector served by
uvicorn on 127.0.0.1, through schemathesis's Python API (``schemathesis.engine``, the runner
its command line uses; its pytest plugin does not run under pytest 9.2). Any 5xx, a status code
the document does not list, a body or a header that does not match it fails the test.

Signed in: /starface/v1 with a module session (``X-Session-Id``), /api/v1 with the sysadmin's
token, ``/api/v1/me*`` with an agent's, so the success paths are exercised too. Destructive
operations do not spoil later examples: DELETE /starface/v1/session ends a session of its own,
a parameter changed by an example is put back before the next one, a lost session or token is
renewed, and the import reads a simulated STARFACE that holds exactly the seeded users, so an
import (even with allowMassDelete=true) only puts back what examples changed. Nothing is
excluded.

The number of cases, their answers and the 5xx per database are printed in the run's output.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema

from starface_connector.api.app import create_app
from starface_connector.bootstrap import Container
from starface_connector.domain.parameters import DEFAULTS
from starface_connector.domain.pbx import PbxSnapshot
from starface_connector.serving import run_in_thread
from starface_connector.simulation import SimulatedPbx, create_simulator_app
from starface_connector.starface.client import StarfaceClient
from tests.conftest import ADMIN_PASSWORD, MODULE_LOGIN, MODULE_PASSWORD, reset

pytestmark = pytest.mark.slow

PBX_LOGIN, PBX_PASSWORD = "api-import", "Geheim-Passwort-42"
CONFIG = """
workers = 1
request-timeout = 60
[generation]
max-examples = 100
deterministic = true
[phases.examples]
enabled = false
[phases.stateful]
enabled = false
[checks]
enabled = false
[checks.not_a_server_error]
enabled = true
[checks.status_code_conformance]
enabled = true
[checks.content_type_conformance]
enabled = true
[checks.response_schema_conformance]
enabled = true
[checks.response_headers_conformance]
enabled = true
"""


@dataclass
class Target:
    """A connector serving both APIs, and the credentials its examples are sent with."""

    url: str
    container: Container
    fetch: Callable[[], PbxSnapshot]
    admin_token: str
    agent: str
    agent_token: str
    session_id: str = ""
    #: the previous example changed a parameter
    dirty: bool = False
    tally: Counter[str] = field(default_factory=Counter)

    def fresh_session(self) -> str:
        opened = self.container.accounts.open_module_session(MODULE_LOGIN, MODULE_PASSWORD)
        assert opened is not None
        return opened.session_id

    def live_session(self) -> str:
        if not self.session_id or not self.container.accounts.touch_module_session(self.session_id):
            self.session_id = self.fresh_session()
        return self.session_id

    def live_agent_token(self) -> str:
        """The agent's token; an example may have deleted the agent (an event) or reset
        their password (schemathesis reuses the logins it has seen in answers)."""
        if self.container.accounts.principal_for(self.agent_token) is None:
            if self.container.views.user(self.agent) is None:
                self.container.importer.run(self.fetch)
            self.container.accounts.set_user_password(self.agent, self.agent)
            token = self.container.accounts.sign_in(self.agent, self.agent)
            assert token is not None
            self.agent_token = token
        return self.agent_token

    def parameters_back(self) -> None:
        stored = {p.name: p.value for p in self.container.admin.list_parameters()}
        for name, standard in DEFAULTS.items():
            if stored.get(name) != standard:
                self.container.admin.set_parameter(name, standard, actor="schemathesis")

    def credentials(self, method: str, path: str) -> dict[str, str]:
        """The headers an example of this operation is signed in with (and the state put
        back that the previous example changed)."""
        if self.dirty:
            self.parameters_back()
        self.dirty = method == "PUT" and path == "/api/v1/parameters/{name}"
        if path == "/starface/v1/session" and method == "DELETE":
            return {"X-Session-Id": self.fresh_session()}
        if path.startswith("/starface/v1/"):
            return {"X-Session-Id": self.live_session()}
        if path.startswith("/api/v1/me"):
            return {"Authorization": f"Bearer {self.live_agent_token()}"}
        if path.startswith("/api/v1/"):
            return {"Authorization": f"Bearer {self.admin_token}"}
        return {}


@pytest.fixture
def target(container: Container) -> Iterator[Target]:
    """The connector on a clean database, seeded by an import from a small simulated PBX."""
    reset(container.engine)
    pbx = SimulatedPbx.generate(8, 2, seed=81)
    app = create_simulator_app(pbx, login=PBX_LOGIN, password=PBX_PASSWORD)
    with ExitStack() as stack:
        pbx_url = stack.enter_context(run_in_thread(app))

        def fetch() -> PbxSnapshot:
            with StarfaceClient(pbx_url, PBX_LOGIN, PBX_PASSWORD, backoff_base=0.002) as client:
                return client.fetch_snapshot()

        served = replace(container, pbx=fetch)
        served.importer.run(fetch)
        url = stack.enter_context(run_in_thread(create_app(served)))
        agent = next(u.login for u in pbx.snapshot().users if not u.admin)
        admin_token = container.accounts.sign_in("sysadmin", ADMIN_PASSWORD)
        agent_token = container.accounts.sign_in(agent, agent)
        assert admin_token is not None and agent_token is not None
        yield Target(url, served, fetch, admin_token, agent, agent_token)
    reset(container.engine)


def test_both_apis_answer_only_what_they_document(
    backend: str, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    config = schemathesis.Config.from_str(CONFIG)
    schema = schemathesis.openapi.from_url(f"{target.url}/openapi.json", config=config)

    @schema.auth(refresh_interval=None)
    class SignedIn:
        def get(self, case: Any, ctx: Any) -> dict[str, str]:
            return target.credentials(case.method.upper(), case.operation.path)

        def set(self, case: Any, data: dict[str, str], ctx: Any) -> None:
            case.headers = {**(case.headers or {}), **data}

    started = time.monotonic()
    tally = target.tally
    per_operation: Counter[str] = Counter()
    failures: list[str] = []
    tested: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            tested.add(event.recorder.label)
            for interaction in event.recorder.interactions.values():
                status = interaction.response.status_code if interaction.response else 0
                tally["cases"] += 1
                per_operation[event.recorder.label] += 1
                tally[str(status)] += 1
                tally["5xx"] += status >= 500
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status is not Status.SUCCESS:
                        info = check.failure_info
                        why = f"{info.failure.title}: {info.failure.message}" if info else ""
                        failures.append(f"{event.recorder.label}: {check.name}: {why}")
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: error: {event.info.traceback}")
        elif isinstance(event, events.FatalError):
            failures.append(f"error: {event.exception!r}")
    seconds = time.monotonic() - started
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()) if k.isdigit())
    summary = (
        f"schemathesis on {backend}: {len(tested)} operations, {tally['cases']} cases, "
        f"{tally['5xx']} 5xx, {seconds:.0f} s (answers {answers})"
    )
    fewest = ", ".join(f"{label}: {n}" for label, n in sorted(per_operation.items()))
    with capsys.disabled():  # the figures belong in the run's output, pass or fail
        print(f"\n{summary}\n  cases per operation: {fewest}")
    document = schema.raw_schema["paths"]
    operations = {f"{m.upper()} {p}" for p, methods in document.items() for m in methods}
    assert tested == operations, summary
    assert not failures, "\n".join([summary, *sorted(set(failures))[:50]])
    assert tally["5xx"] == 0, summary
