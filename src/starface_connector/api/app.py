"""Composition root: wires storage, services and both APIs into one ASGI app."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..domain.pbx import PbxSnapshot
from ..service.importer import Importer
from ..storage.db import session_factory
from . import jtel, starface

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


def create_app(
    engine: Engine,
    *,
    max_body_bytes: int = 8 * 1024 * 1024,
    pbx_fetch: Callable[[], PbxSnapshot] | None = None,
    importer: Importer | None = None,
) -> FastAPI:
    """``pbx_fetch`` reads the STARFACE snapshot for imports; None when no PBX is configured."""
    app = FastAPI(
        title="Starface Connector",
        version=__version__,
        description=(
            "Joins a STARFACE PBX to a jtel ACD. `/starface/v1` is the contract the STARFACE "
            "module talks to; `/api/v1` is the jtel side: users, groups, parameters, audit log."
        ),
    )
    app.state.engine = engine
    app.state.factory = session_factory(engine)
    app.state.importer = importer or Importer(app.state.factory)
    app.state.pbx_fetch = pbx_fetch
    app.include_router(starface.router)
    app.include_router(jtel.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        """One readable message, without echoing the (possibly huge) input back."""
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in errors[:10]
        )
        return JSONResponse(
            {"detail": f"invalid request: {message}; nothing was applied", "errors": errors},
            status_code=422,
        )

    @app.exception_handler(DataError)
    async def unstorable_value(_: Request, exc: DataError) -> JSONResponse:
        """A value the database refuses (e.g. NUL in a path on PostgreSQL) is the caller's."""
        return JSONResponse(
            {"detail": "invalid value in the request (e.g. a NUL character)"}, status_code=422
        )

    @app.exception_handler(OperationalError)
    async def database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return JSONResponse(
            {"detail": "database unavailable; nothing was applied, retry later"},
            status_code=503,
        )

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    return app
