"""The STARFACE-facing API: the contract the STARFACE module talks to (/starface/v1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status

from ..service.accounts import MODULE, close_session, open_module_session, touch_module_session
from ..service.events import MAX_CLOCK_AHEAD, apply_batch, not_too_far_ahead
from ..storage.db import utcnow
from .deps import Factory
from .schemas import BatchResultOut, EventBatch, EventResultOut, SessionIn, SessionOut, parse_event

router = APIRouter(prefix="/starface/v1", tags=["STARFACE module"])

SessionHeader = Annotated[str | None, Header(alias="X-Session-Id")]


def module_session(request: Request, session_id: SessionHeader = None) -> str:
    """The X-Session-Id must name a live session; each use slides its expiry."""
    if not session_id or not touch_module_session(request.app.state.factory, session_id):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or expired session: open a new one"
        )
    return session_id


@router.post("/session", response_model=SessionOut, summary="Open an external session")
def open_session(body: SessionIn, factory: Factory) -> SessionOut:
    opened = open_module_session(factory, body.login, body.password)
    if opened is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong login or password")
    session_id, expires = opened
    return SessionOut(session_id=session_id, expires_in_seconds=expires)


@router.delete("/session", status_code=204, summary="End the session")
def end_session(factory: Factory, session_id: Annotated[str, Depends(module_session)]) -> None:
    close_session(factory, session_id, MODULE)


@router.post(
    "/events",
    response_model=BatchResultOut,
    summary="Send 1 to 1000 events; answered after they are durably committed",
)
def post_events(
    body: EventBatch, factory: Factory, _: Annotated[str, Depends(module_session)]
) -> BatchResultOut:
    latest = utcnow() + MAX_CLOCK_AHEAD
    incoming = [not_too_far_ahead(parse_event(raw), latest) for raw in body.events]
    results = apply_batch(factory, incoming, source="starface")
    return BatchResultOut(
        results=[
            EventResultOut(event_id=r.event_id, outcome=r.outcome.value, reason=r.reason)
            for r in results
        ]
    )
