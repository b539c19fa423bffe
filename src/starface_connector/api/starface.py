"""The STARFACE-facing API: the contract the STARFACE module talks to (/starface/v1)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import anyio
import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status

from ..domain.model import EventType
from ..service.accounts import MODULE
from ..service.events import Incoming, Malformed
from ..service.security import token_hash
from ..service.throttling import LoginThrottled
from .client import address_of, too_many
from .deps import Services
from .metrics import Metrics
from .responses import BODY, DATABASE, refusals
from .schemas import (
    BatchResultOut,
    EventBatch,
    SessionIn,
    SessionOut,
    parse_event,
)

router = APIRouter(prefix="/starface/v1", tags=["STARFACE module"])

NO_SESSION = "unknown or expired session (or none sent): open a new one"

SessionHeader = Annotated[str | None, Header(alias="X-Session-Id")]


async def module_session(services: Services, session_id: SessionHeader = None) -> str:
    """The X-Session-Id must name a live session; each use slides its expiry. Answered from
    memory when this process verified the session within the last second."""
    if session_id:
        if services.accounts.known_module_session(session_id):
            return session_id
        if await anyio.to_thread.run_sync(services.accounts.touch_module_session, session_id):
            return session_id
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or expired session: open a new one")


@router.post(
    "/session",
    response_model=SessionOut,
    summary="Open an external session",
    responses=refusals(*BODY, 401, 429, *DATABASE, _401="wrong login or password"),
)
def open_session(body: SessionIn, services: Services, request: Request) -> SessionOut:
    try:
        opened = services.accounts.open_module_session(
            body.login, body.password, address=address_of(request)
        )
    except LoginThrottled as exc:
        raise too_many(exc) from None
    if opened is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong login or password")
    return SessionOut(session_id=opened.session_id, expires_in_seconds=opened.expires_in_seconds)


@router.delete(
    "/session",
    status_code=204,
    summary="End the session",
    responses=refusals(401, *DATABASE, _401=NO_SESSION),
)
def end_session(services: Services, session_id: Annotated[str, Depends(module_session)]) -> None:
    services.accounts.close_session(session_id, MODULE)


@router.post(
    "/events",
    response_model=BatchResultOut,
    summary="Send 1 to 1000 events; answered after they are durably committed",
    responses=refusals(
        *BODY,
        401,
        *DATABASE,
        _401=NO_SESSION,
        _422="malformed envelope (not JSON, not 1 to 1000 events); nothing was applied. A "
        "malformed single event is answered 200 with its outcome 'rejected'",
        _503="the database is unavailable (nothing was applied), or a commit's outcome is "
        "unknown (resend: stored events come back 'duplicate'); retry after Retry-After seconds",
    ),
)
async def post_events(
    request: Request,
    body: EventBatch,
    services: Services,
    session_id: Annotated[str, Depends(module_session)],
) -> Response:
    """Validated here, queued for the writer, answered after the group's commit: the request
    crosses one thread boundary (the writer), never a worker thread of its own."""
    incoming = [parse_event(raw) for raw in body.events]
    started = time.perf_counter()
    future = services.events.submit(incoming, session_hash=token_hash(session_id))
    results = await asyncio.wrap_future(future)
    metrics: Metrics = request.app.state.metrics
    metrics.batch_seconds.observe(time.perf_counter() - started)
    metrics.batch_answered([event_type(e) for e in incoming], [r.outcome.value for r in results])
    answer = [
        {"eventId": r.event_id, "outcome": r.outcome.value, "reason": r.reason} for r in results
    ]
    return Response(orjson.dumps({"results": answer}), media_type="application/json")


def event_type(item: Incoming) -> str | None:
    """The event's type, for the metrics: one of the known ones or None (a malformed event's
    type is whatever was sent, and a label must not take any value a client sends)."""
    if isinstance(item, Malformed):
        return item.type if item.type in KNOWN_TYPES else None
    return item.type.value


KNOWN_TYPES = frozenset(t.value for t in EventType)
