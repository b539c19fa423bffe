"""``purge`` and ``serve --purge-daily``, run as an operator runs them, on an SQLite file whose
rows were written by the connector with its clock set back (what they delete is tested on
every database in tests/integration/test_retention.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sqlalchemy import select

from starface_connector.domain.model import Outcome, PhoneStatus, PhoneStatusChange
from starface_connector.storage.db import make_engine
from starface_connector.storage.tables import EventLogRow, SeenEventRow
from tests.conftest import MovableClock, open_container, settings_for
from tests.e2e.test_cli import after_database_line, cli, environment, no_traceback, serving

DAY = 24 * 3600


def populated(path: Path, ages: dict[str, float]) -> str:
    """A connector database with three events received ``days`` ago per prefix."""
    url = f"sqlite:///{path}"
    clock = MovableClock()
    container = open_container(settings_for(url), clock)
    try:
        for prefix, days in ages.items():
            clock.reset()
            clock.advance(-days * DAY)
            events = [
                PhoneStatusChange(f"{prefix}-{n}", clock(), "nobody", PhoneStatus.BUSY)
                for n in range(3)
            ]
            results = container.events.apply_batch(events)
            assert {r.outcome for r in results} == {Outcome.REJECTED}  # logged and remembered
    finally:
        container.close()
    return url


def remaining(url: str) -> tuple[list[str], list[str]]:
    """(eventIds in the event log, eventIds remembered), each sorted by prefix."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            logged = connection.scalars(select(EventLogRow.event_id))
            seen = connection.scalars(select(SeenEventRow.event_id))
            return sorted({i.split("-")[0] for i in logged}), sorted(
                {i.split("-")[0] for i in seen}
            )
    finally:
        engine.dispose()


AGES = {"old": 100, "middle": 20, "recent": 1}


def test_purge_deletes_what_is_older_than_the_windows_and_says_so(tmp_path: Path) -> None:
    url = populated(tmp_path / "connector.db", AGES)
    env = environment(tmp_path)

    standard = cli(env, "purge", "--database-url", url)
    assert standard.returncode == 0, standard.stderr
    no_traceback(standard)
    lines = after_database_line(standard.stdout, url)
    assert len(lines) == 2, standard.stdout
    assert re.fullmatch(
        r"event log: 3 entries received before \d{4}-\d\d-\d\d \d\d:\d\d UTC \(older than 90d\) "
        r"deleted",
        lines[0],
    ), lines[0]
    assert re.fullmatch(
        r"eventIds: 6 seen before \d{4}-\d\d-\d\d \d\d:\d\d UTC \(older than 7d\) forgotten",
        lines[1],
    ), lines[1]
    assert remaining(url) == (["middle", "recent"], ["recent"])

    chosen = cli(
        env, "purge", "--older-than", "2w", "--event-ids-older-than", "12h", "--database-url", url
    )
    assert chosen.returncode == 0, chosen.stderr
    assert "event log: 3 entries" in chosen.stdout and "(older than 14d)" in chosen.stdout
    assert "eventIds: 3 seen" in chosen.stdout and "(older than 12h)" in chosen.stdout
    assert remaining(url) == (["recent"], [])


def test_serve_purges_at_start_with_purge_daily_and_the_configured_windows(
    tmp_path: Path,
) -> None:
    url = populated(tmp_path / "connector.db", AGES)
    env = environment(tmp_path) | {"STARFACE_CONNECTOR_EVENT_LOG_RETENTION": "15d"}
    with serving(env, "--purge-daily", "--database-url", url) as server:
        assert (
            "Purging the event log (older than 15d) and eventIds (older than 7d) now and every "
            "24 h" in server.stdout
        )
        deadline = time.monotonic() + 60
        while "purge:" not in server.stderr:  # the first purge runs in the background
            assert time.monotonic() < deadline, server.stderr
            time.sleep(0.05)
        assert remaining(url) == (["recent"], ["recent"])
        assert "6 event log entries received before" in server.stderr
        assert "6 eventIds seen before" in server.stderr
    no_traceback(server)
