"""Prometheus metrics at ``/metrics``: the adapter that counts what the connector does.

The service layer knows nothing of Prometheus: events are counted here from the answers of
``POST /starface/v1/events``, logins from the status codes of the login routes, database
errors in the 503 handlers, import runs through the importer's ``observers`` callback, and
open sessions are read from the database at each scrape (so every instance reports the
same, true number).

With more than one worker process, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder
before the start: each process then writes its values there and a scrape adds them up
(``prometheus_client.multiprocess``).
"""

from __future__ import annotations

import logging
import os
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from datetime import timedelta

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..bootstrap import Container
from ..service.accounts import API, CONSOLE, IDLE, MODULE

log = logging.getLogger("starface_connector")

PREFIX = "starface_connector"
#: POST to these paths is a login: 401/403 a failure, 429 a throttled attempt
LOGIN_PATHS = frozenset({"/starface/v1/session", "/api/v1/auth/login", "/login"})
#: a batch's wait for the writer plus its commit, in seconds
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class OpenSessions(Collector):
    """Open sessions by kind, counted in the database at each scrape."""

    def __init__(self, container: Container) -> None:
        self._container = container

    def describe(self) -> Iterable[Metric]:
        """The family without values: registering must not read the database."""
        yield self._family()

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{PREFIX}_open_sessions",
            "Sessions used within their expiry: module (STARFACE), api (jtel tokens), console",
            labels=["kind"],
        )

    def collect(self) -> Iterable[Metric]:
        gauge = self._family()
        container = self._container
        try:
            now = container.clock()
            module_expiry = timedelta(seconds=container.parameters.get().session_expire_seconds)
            for kind, idle in ((MODULE, module_expiry), (API, IDLE[API]), (CONSOLE, IDLE[CONSOLE])):
                count = container.views.open_sessions(kind, used_since=now - idle)
                gauge.add_metric([kind], count)
        except Exception as exc:  # a scrape never fails for the database
            log.warning("metrics: open sessions not counted: %s", type(exc).__name__)
            return
        yield gauge


class Metrics:
    """The connector's metrics, in a registry of their own (one per app)."""

    def __init__(self, container: Container | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._sessions = OpenSessions(container) if container is not None else None
        if self._sessions is not None:
            self.registry.register(self._sessions)
        self.events = Counter(
            f"{PREFIX}_events",
            "STARFACE events answered, by event type and outcome",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            f"{PREFIX}_batch_seconds",
            "Time from a batch's arrival to its commit (waiting for the writer included)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.login_failures = Counter(
            f"{PREFIX}_login_failures",
            "Logins refused (401/403), by route",
            ["route"],
            registry=self.registry,
        )
        self.login_throttled = Counter(
            f"{PREFIX}_login_throttled",
            "Login attempts answered 429 (throttled), by route",
            ["route"],
            registry=self.registry,
        )
        self.imports = Counter(
            f"{PREFIX}_import_runs",
            "Import runs by outcome (done, partial, failed, refused, busy)",
            ["outcome"],
            registry=self.registry,
        )
        self.database_errors = Counter(
            f"{PREFIX}_database_errors",
            "Requests answered 503 for the database: unavailable, or a commit's outcome unknown",
            ["kind"],
            registry=self.registry,
        )
        if container is not None:
            container.importer.observers.append(self.import_finished)

    def batch_answered(self, types: Sequence[str | None], outcomes: Sequence[str]) -> None:
        for (kind, outcome), count in Tally(zip(types, outcomes, strict=True)).items():
            self.events.labels(kind or "unknown", outcome).inc(count)

    def login_answered(self, path: str, status: int) -> None:
        if status in (401, 403):
            self.login_failures.labels(path).inc()
        elif status == 429:
            self.login_throttled.labels(path).inc()

    def import_finished(self, outcome: str) -> None:
        self.imports.labels(outcome).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The scrape's body and content type."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            if self._sessions is not None:
                registry.register(self._sessions)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
