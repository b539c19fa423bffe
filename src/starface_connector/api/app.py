"""The HTTP face of the connector: both APIs, health, error shapes and the body limit."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..bootstrap import Container
from ..service.errors import OutcomeUnknown, StoreUnavailable, ValueRefused
from ..storage.db import check_readiness
from ..web import invalid_form, mount_console
from . import jtel, starface
from .deps import Services
from .metrics import Metrics
from .observe import Observe
from .responses import allowed_methods, truthful_openapi
from .schemas import ReadyOut, error_message

log = logging.getLogger("starface_connector")


class BodyLimit:
    """Refuses bodies over the limit (413) before the app parses them.

    A declared Content-Length is checked up front; a body without one (chunked) is read here
    up to the limit and handed on only if it fits, so no one can exhaust memory either way.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than {self.limit} bytes"}, status_code=413
        )
        await response(scope, receive, send)


def create_app(container: Container, *, log_requests: bool = False) -> FastAPI:
    """The ASGI app of one connector: both APIs and the health endpoints; ``log_requests``
    logs one line per request (``serve --log-format json``)."""
    app = FastAPI(
        docs_url=None,  # served by the web package from local files, not a CDN
        redoc_url=None,
        title="Starface Connector",
        version=__version__,
        description=(
            "Joins a STARFACE PBX to a jtel ACD. `/starface/v1` is the contract the STARFACE "
            "module talks to; `/api/v1` is the jtel side: users, groups, parameters, event log."
        ),
    )
    app.state.container = container
    metrics = app.state.metrics = Metrics(container)
    app.include_router(starface.router)
    app.include_router(jtel.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is alive (it says nothing about the database: see /readyz)."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        """Prometheus metrics (counts only: no names, logins or secrets); see operations.md."""
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=ReadyOut,
        responses={503: {"model": ReadyOut, "description": "not ready: the body says why"}},
    )
    def readyz(services: Services) -> JSONResponse:
        """Ready when the database answers and its schema is current; stored parameter
        values that do not validate are listed (their standard values are in use)."""
        readiness = check_readiness(services.engine)
        problems = [str(p) for p in services.admin.parameter_problems()] if readiness.ok else []
        body = {
            "status": "ready" if readiness.ok else "not ready",
            "database": readiness.database,
            "schema": readiness.schema,
            "parameterProblems": problems,
        }
        return JSONResponse(body, status_code=200 if readiness.ok else 503)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """One readable message, without echoing the (possibly huge) input back: the one
        error shape (ErrorOut) on the APIs, a page in the reader's language on the console."""
        errors = [
            {
                "loc": [_printable(p) for p in e.get("loc", ())],
                "msg": _printable(error_message(e)),
            }
            for e in exc.errors()
        ]
        message = "; ".join(_printable(_describe(e)) for e in exc.errors()[:10])
        writes = request.method not in ("GET", "HEAD", "OPTIONS")
        suffix = "; nothing was applied" if writes else ""
        if not request.url.path.startswith(API_PREFIXES):
            return invalid_form(request, container, message)
        return JSONResponse(
            {"detail": f"invalid request: {message}{suffix}", "errors": errors},
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        """FastAPI's answer, but a 405 names every method the path has (Starlette names only
        those of the first route that matched it)."""
        if exc.status_code == 405:
            allow = ", ".join(allowed_methods(app, request.url.path))
            exc = HTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": allow})
        return await http_exception_handler(request, exc)

    @app.exception_handler(DataError)
    async def unstorable_value(_: Request, exc: DataError) -> JSONResponse:
        """A value the database refuses (e.g. NUL in a path on PostgreSQL) is the caller's."""
        return JSONResponse(
            {"detail": "invalid value in the request (e.g. a NUL character)"}, status_code=422
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(PoolTimeout)  # no pooled connection free within the timeout
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable: %s", _first_line(exc))
        metrics.database_errors.labels("unavailable").inc()
        return JSONResponse(
            {"detail": "database unavailable; nothing was applied, retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(OutcomeUnknown)
    async def outcome_unknown(_: Request, exc: OutcomeUnknown) -> JSONResponse:
        """The commit's answer was lost: the batch may be stored. A resend is safe, because
        events already stored come back as duplicates."""
        log.error("outcome of a commit unknown: %s", exc)
        metrics.database_errors.labels("outcome_unknown").inc()
        return JSONResponse(
            {
                "detail": "outcome unknown: resend the batch; already stored events will be "
                "reported duplicate"
            },
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(ValueRefused)
    async def value_refused(_: Request, exc: ValueRefused) -> JSONResponse:
        return JSONResponse({"detail": f"invalid value in the request: {exc}"}, status_code=422)

    mount_console(app, container)
    app.add_middleware(BodyLimit, limit=container.settings.max_body_bytes)
    app.add_middleware(Observe, metrics=metrics, log_requests=log_requests)
    truthful_openapi(app)
    return app


RETRY_AFTER_SECONDS = 5
#: the two APIs; everything else is the console's
API_PREFIXES = ("/api/", "/starface/")


def _printable(value: Any) -> Any:
    """Text fit for a JSON answer: an unpaired surrogate (from the input) escaped."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def _describe(error: Any) -> str:
    """One validation error in words; a body that is not JSON says where it breaks."""
    if error.get("type") == "json_invalid":
        position = error.get("loc", ("body", 0))[-1]
        why = (error.get("ctx") or {}).get("error")
        return f"invalid JSON at character {position}" + (f" ({why})" if why else "")
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in _LOCATIONS)
    return f"{where or 'body'}: {error_message(error)}"


#: where a parameter came from, left out of the place named in the message
_LOCATIONS = ("body", "query", "path", "header", "cookie")
