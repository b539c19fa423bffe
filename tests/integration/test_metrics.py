"""/metrics: the counters move with what the connector does, on every database."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from starface_connector.bootstrap import Container
from starface_connector.domain.pbx import PbxSnapshot
from starface_connector.service.errors import PbxUnreachable
from tests.conftest import ADMIN_PASSWORD, MODULE_LOGIN, Connector

P = "starface_connector_"


def scrape(c: Connector) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = c.http.get(f"{c.url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((P + name, frozenset(labels.items())), 0.0)


def test_events_are_counted_by_type_and_outcome(connector: Connector) -> None:
    c = connector
    before = scrape(c)
    first = c.user_update("anna")
    outcomes = [
        r["outcome"]
        for r in c.results(
            first, first | {"eventId": first["eventId"]}, c.user_status("anna", "LOGGED_IN")
        )
    ]
    malformed = {"eventId": "bad-1", "type": "NO_SUCH_TYPE", "occurredAt": "2026-11-25T09:00:00Z"}
    assert c.one(malformed)["outcome"] == "rejected"
    after = scrape(c)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert outcomes[0] == "applied"
    assert moved("events_total", type="USER_UPDATE", outcome="applied") == 1
    assert moved("events_total", type="USER_UPDATE", outcome=outcomes[1]) == 1
    assert moved("events_total", type="USER_STATUS", outcome=outcomes[2]) == 1
    # a type nobody knows never becomes a label of its own
    assert moved("events_total", type="unknown", outcome="rejected") == 1
    assert not any("NO_SUCH_TYPE" in str(labels) for _, labels in after)
    assert moved("batch_seconds_count") == 2
    assert moved("batch_seconds_sum") > 0


def test_login_failures_and_open_sessions(connector: Connector) -> None:
    c = connector
    before = scrape(c)
    assert value(before, "open_sessions", kind="module") == 0
    assert c.login("sysadmin", "wrong").status_code == 401
    assert c.open_session(MODULE_LOGIN, "wrong").status_code == 401
    assert c.open_session().status_code == 200
    c.token("sysadmin", ADMIN_PASSWORD)
    after = scrape(c)
    for route in ("/api/v1/auth/login", "/starface/v1/session"):
        failures = value(after, "login_failures_total", route=route)
        assert failures - value(before, "login_failures_total", route=route) == 1
    assert value(after, "open_sessions", kind="module") == 1
    assert value(after, "open_sessions", kind="api") == 1
    assert value(after, "open_sessions", kind="console") == 0


def test_import_runs_are_counted_by_outcome(connector: Connector, container: Container) -> None:
    c = connector
    before = scrape(c)
    container.importer.run(lambda: PbxSnapshot(users=(), groups=()))

    def unreachable() -> PbxSnapshot:
        raise PbxUnreachable("the PBX did not answer")

    with pytest.raises(PbxUnreachable):
        container.importer.run(unreachable)
    after = scrape(c)
    for outcome in ("done", "failed"):
        moved = value(after, "import_runs_total", outcome=outcome)
        assert moved - value(before, "import_runs_total", outcome=outcome) == 1
