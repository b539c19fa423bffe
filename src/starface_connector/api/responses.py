"""What each operation can answer besides success, as /openapi.json documents it.

Every refusal has one body, :class:`~.schemas.ErrorOut`. Routes name their refusals with
:func:`refusals`; :func:`truthful_openapi` then drops FastAPI's generated 422
(``HTTPValidationError``, a shape this app never sends) from operations that did not name one,
so the document lists only what the app answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI

from .schemas import ErrorOut

RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    }
}

#: what each refusal means, unless a route says more precisely
MEANING: dict[int, str] = {
    400: "the body cannot be read (e.g. it is not UTF-8); nothing was applied",
    401: "missing, unknown or expired credentials",
    403: "administrator rights required",
    404: "no such resource",
    409: "conflict with the current state",
    413: "request body larger than the limit (8 MiB by default); nothing was applied",
    422: "the request cannot be read (wrong JSON, a missing or invalid field, NUL or an "
    "unpaired surrogate in a text, text too long, a number out of range); nothing was applied",
    429: "too many failed logins from this address or for this account; retry after "
    "Retry-After seconds",
    502: "STARFACE failed or answered what its specification does not allow",
    503: "the database is unavailable or timed out; retry after Retry-After seconds",
}

#: refusals every operation that reads or writes the database can give
DATABASE = (503,)
#: an operation with a JSON body
BODY = (400, 413, 422)


def refusals(*codes: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: each code with the error body and its meaning.

    ``meanings`` overrides a meaning by code (``_401="wrong login or password"``); 429 and
    503 carry ``Retry-After``."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(codes)):
        entry: dict[str, Any] = {
            "model": ErrorOut,
            "description": meanings.get(f"_{code}", MEANING[code]),
        }
        if code in (429, 503):
            entry["headers"] = RETRY_AFTER
        documented[code] = entry
    return documented


def truthful_openapi(app: FastAPI) -> None:
    """Serve the OpenAPI document without FastAPI's generated validation error shape.

    FastAPI adds a 422 ``HTTPValidationError`` to every operation with parameters that names
    no 422 itself; this app answers every 422 with ``ErrorOut`` (``invalid_request`` in
    ``app.py``), and only where a route names it, so the generated ones are dropped."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path in document.get("paths", {}).values():
                for operation in path.values():
                    answers = operation.get("responses", {})
                    body = answers.get("422", {}).get("content", {}).get("application/json", {})
                    if body.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                        del answers["422"]
            schemas = document.get("components", {}).get("schemas", {})
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def all_routes(app: FastAPI) -> Iterator[Any]:
    """Every route of ``app``, those of included routers too (FastAPI since 0.13x keeps an
    included router as one entry of ``app.routes``; older versions copied its routes in).
    Each has ``path``, ``methods`` (None for a mount) and ``path_regex``."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    yield from (walk(app.routes) if walk is not None else app.routes)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route of ``app`` answers at ``path``, sorted (for ``Allow``)."""
    methods: set[str] = set()
    for route in all_routes(app):
        if route.methods and route.path_regex.match(path):
            methods |= route.methods
    return sorted(methods)
