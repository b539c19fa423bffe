"""The observing middleware: which answers count as failed or throttled logins."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from starlette.types import Message, Receive, Scope, Send

from starface_connector.api.metrics import Metrics
from starface_connector.api.observe import Observe


def answering(status: int):  # type: ignore[no-untyped-def]
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def call(app: Observe, method: str, path: str) -> int:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "client": None}
    # a thread of its own: an event loop another test left running here must not matter
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, app(scope, receive, send)).result()
    return int(sent[0]["status"])


def counted(metrics: Metrics, name: str, route: str) -> float:
    return (
        metrics.registry.get_sample_value(f"starface_connector_{name}_total", {"route": route})
        or 0.0
    )


@pytest.mark.parametrize("route", ["/api/v1/auth/login", "/starface/v1/session", "/login"])
@pytest.mark.parametrize(
    ("status", "failures", "throttled"),
    [(200, 0, 0), (401, 1, 0), (403, 1, 0), (429, 0, 1), (503, 0, 0)],
)
def test_login_answers_are_counted_by_status(
    route: str, status: int, failures: int, throttled: int
) -> None:
    metrics = Metrics()
    app = Observe(answering(status), metrics)
    assert call(app, "POST", route) == status
    assert counted(metrics, "login_failures", route) == failures
    assert counted(metrics, "login_throttled", route) == throttled


@pytest.mark.parametrize(("method", "path"), [("GET", "/login"), ("POST", "/api/v1/users")])
def test_other_requests_are_no_logins(method: str, path: str) -> None:
    metrics = Metrics()
    app = Observe(answering(401), metrics)
    call(app, method, path)
    assert counted(metrics, "login_failures", path) == 0
