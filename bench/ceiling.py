"""The ceilings the event benchmark compares against, on the connector's own server stack.

Run as its own process exactly as ``serve`` runs the connector (the same uvicorn options), so
the only difference is the work behind the endpoint:

* ``POST /starface/v1/events`` with ``SC_CEILING=noop`` (ceiling A): parse the JSON body,
  answer a result per event, touch nothing else;
* the same with ``SC_CEILING=insert`` (ceiling B): also insert one plain row per event into a
  bare table and commit, once per request, on the database named by ``SC_DATABASE_URL``.

    SC_CEILING=noop SC_PORT=8181 python -m bench.ceiling
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Column, MetaData, String, Table, insert

from starface_connector.cli.serve import uvicorn_options
from starface_connector.storage.db import make_engine

metadata = MetaData()
bare = Table(
    "bench_ceiling_events",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("type", String(32)),
    Column("login", String(128)),
    Column("occurred_at", String(40)),
)


def create(kind: str, database_url: str | None) -> FastAPI:
    app = FastAPI()
    engine = make_engine(database_url) if kind == "insert" and database_url else None
    if engine is not None:
        metadata.drop_all(engine)
        metadata.create_all(engine)

    def results(events: list[dict[str, Any]]) -> Response:
        """Answered as the connector answers: every event's result, as JSON bytes."""
        answer = [
            {"eventId": e.get("eventId"), "outcome": "applied", "reason": "ceiling"} for e in events
        ]
        return Response(orjson.dumps({"results": answer}), media_type="application/json")

    if engine is None:

        @app.post("/starface/v1/events")
        async def noop(request: Request) -> Response:
            return results((await request.json())["events"])

    else:

        @app.post("/starface/v1/events")
        def plain_insert(body: dict[str, Any]) -> Response:
            events = body["events"]
            rows = [
                {
                    "event_id": e["eventId"],
                    "type": e["type"],
                    "login": e.get("login") or e.get("user", {}).get("login"),
                    "occurred_at": e["occurredAt"],
                }
                for e in events
            ]
            with engine.begin() as connection:
                connection.execute(insert(bare), rows)
            return results(events)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    import uvicorn

    app = create(os.environ["SC_CEILING"], os.environ.get("SC_DATABASE_URL"))
    uvicorn.run(app, **uvicorn_options("127.0.0.1", int(os.environ["SC_PORT"])))


if __name__ == "__main__":
    main()
