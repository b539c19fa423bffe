"""The web console and the API documentation pages, mounted on the connector's app."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..bootstrap import Container
from .console import Denied, create_console, render
from .session import visitor

STATIC = Path(__file__).with_name("static")
#: Swagger UI and ReDoc as the fastapi-offline package ships them (no CDN, no copy here)
APIDOCS = Path(fastapi_offline.__file__).with_name("static")

#: no inline script, no framing, nothing loaded from elsewhere
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        b"object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]


class SecurityHeaders:
    """Adds the security headers to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Starface Connector API</title>
<link rel="stylesheet" href="/static/apidocs/swagger-ui.css"></head>
<body><div id="swagger-ui" data-spec="/openapi.json"></div>
<script src="/static/apidocs/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>"""
REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Starface Connector API</title></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/static/apidocs/redoc.standalone.js"></script></body></html>"""


def invalid_form(request: Request, container: Container, message: str) -> Response:
    """A console request that cannot be read (a form field or query too long, NUL or an
    unpaired surrogate in it): 422 and a page that says so, in the reader's language."""
    return render(
        request,
        visitor(request, container),
        "error.html",
        status=422,
        kind="invalid",
        message=message,
    )


def mount_console(app: FastAPI, container: Container) -> None:
    """The console at ``/``, its static files, and the API docs served from a package."""
    app.include_router(create_console(container))
    app.mount("/static/apidocs", StaticFiles(directory=APIDOCS))
    app.mount("/static", StaticFiles(directory=STATIC))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the swagger-ui-bundle package: it works without the internet.
        Swagger UI sets inline styles, so this page alone allows them (no inline script)."""
        policy = (
            SECURITY_HEADERS[0][1]
            .decode()
            .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
        )
        return HTMLResponse(DOCS_PAGE, headers={"content-security-policy": policy})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        """ReDoc, from the same package; it also sets inline styles and runs a web worker."""
        policy = (
            SECURITY_HEADERS[0][1]
            .decode()
            .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
            .replace("default-src 'self'", "default-src 'self'; worker-src 'self' blob:")
        )
        return HTMLResponse(REDOC_PAGE, headers={"content-security-policy": policy})

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> Response:
        who = visitor(request, container)
        if who.principal is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/?next={quote(target, safe='')}", status_code=303)
        return render(request, who, "error.html", status=403, kind="forbidden")

    app.add_middleware(SecurityHeaders)
