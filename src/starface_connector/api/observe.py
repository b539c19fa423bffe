"""Watches every answer on its way out: login metrics and, when asked, one JSON log line per
request. Raw ASGI (no BaseHTTPMiddleware): the event path is benchmarked, and a request that
is neither a login nor logged costs one set lookup here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import LOGIN_PATHS, Metrics

access_log = logging.getLogger("starface_connector.access")


class Observe:
    def __init__(self, app: ASGIApp, metrics: Metrics, *, log_requests: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        login = scope["path"] in LOGIN_PATHS and scope["method"] == "POST"
        if not login and not self.log_requests:
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before it answers
        started = time.perf_counter()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            if login:
                self.metrics.login_answered(scope["path"], status)
            if self.log_requests:
                access_log.info(
                    "request",
                    extra={"request": request_fields(scope, status, started)},
                )


def request_fields(scope: Scope, status: int, started: float) -> dict[str, Any]:
    """What a request's log line says: never its query string, headers or body, where
    tokens, session ids and passwords travel."""
    client = scope.get("client")
    return {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "client": client[0] if client else None,
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "request", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line["error"] = trace.splitlines()[-1]
            line["traceback"] = trace
        return orjson.dumps(line).decode()
