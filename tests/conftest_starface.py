"""Helpers shared by the STARFACE integration tests (not a pytest conftest; loaded by path).

The official STARFACE spec is Swagger 2.0, which openapi-core does not read, so
:func:`swagger2_to_openapi3` converts it (mechanically: body parameters become request bodies,
``definitions`` become ``components/schemas``, typed parameters get a ``schema``). Every HTTP
exchange with the simulator is recorded by an ASGI wrapper and validated with openapi-core,
so tests check the simulator (responses) and the client (requests) against the spec.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from starface_connector.serving import run_in_thread
from starface_connector.simulation import (
    FAULT_HEADER,
    SimulatedPbx,
    SimulatorControl,
    create_simulator_app,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
# shared/ lies beside the repository, both here and in CI's fresh clone.
SPEC_PATH = REPO_ROOT.parent / "shared" / "starface" / "starface-rest-api-6.7.0.22.yaml"

_PARAM_SCHEMA_KEYS = ("type", "format", "items", "enum", "default", "minimum", "maximum")


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = value.replace("#/definitions/", "#/components/schemas/")
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def swagger2_to_openapi3(doc: dict[str, Any]) -> dict[str, Any]:
    """Convert the parts of a Swagger 2.0 document that validation needs to OpenAPI 3.0."""
    global_produces = doc.get("produces", ["application/json"])
    global_consumes = doc.get("consumes", ["application/json"])
    paths: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        new_item: dict[str, Any] = {}
        for method, op in item.items():
            produces = op.get("produces", global_produces)
            consumes = op.get("consumes", global_consumes)
            new_op: dict[str, Any] = {
                k: op[k] for k in ("tags", "operationId", "summary", "description") if k in op
            }
            params = []
            for param in op.get("parameters", []):
                if param["in"] == "body":
                    new_op["requestBody"] = {
                        "required": bool(param.get("required", False)),
                        "content": {mime: {"schema": param["schema"]} for mime in consumes},
                    }
                    continue
                schema = {k: param[k] for k in _PARAM_SCHEMA_KEYS if k in param}
                params.append(
                    {
                        "name": param["name"],
                        "in": param["in"],
                        "required": bool(param.get("required", param["in"] == "path")),
                        "schema": schema,
                    }
                )
            if params:
                new_op["parameters"] = params
            responses = {}
            for code, resp in op.get("responses", {}).items():
                resp = resp or {}
                new_resp: dict[str, Any] = {"description": resp.get("description", "")}
                if "schema" in resp:
                    new_resp["content"] = {mime: {"schema": resp["schema"]} for mime in produces}
                responses[str(code)] = new_resp
            new_op["responses"] = responses
            new_item[method] = new_op
        paths[path] = new_item
    return _rewrite_refs(
        {
            "openapi": "3.0.3",
            "info": {"title": doc["info"]["title"], "version": doc["info"]["version"]},
            "servers": [{"url": "/rest"}],
            "paths": paths,
            "components": {"schemas": copy.deepcopy(doc.get("definitions", {}))},
        }
    )


@functools.cache
def load_swagger() -> dict[str, Any]:
    """The official spec as a dict (read once)."""
    with SPEC_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def as_the_pbx_answers(spec: dict[str, Any]) -> dict[str, Any]:
    """The converted spec with the one documented deviation of real PBXs: ``GET /login``
    sends its template's ``secret`` as null."""
    spec["components"]["schemas"]["Login"]["properties"]["secret"]["nullable"] = True
    return spec


@functools.cache
def openapi() -> OpenAPI:
    """The official spec, converted, as an openapi-core validator (built once)."""
    return OpenAPI.from_dict(as_the_pbx_answers(swagger2_to_openapi3(load_swagger())))


@dataclass
class Exchange:
    """One recorded HTTP request/response pair."""

    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.response_body)


@dataclass
class _SpecRequest:
    exchange: Exchange
    # One object: openapi-core writes the resolved path parameters into it.
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(self.exchange.query, keep_blank_values=True)),
            header=Headers(list(self.exchange.request_headers.items())),
        )

    @property
    def host_url(self) -> str:
        return "http://127.0.0.1"

    @property
    def path(self) -> str:
        return self.exchange.path

    @property
    def method(self) -> str:
        return self.exchange.method.lower()

    @property
    def content_type(self) -> str:
        return self.exchange.request_headers.get("content-type", "").lower()

    @property
    def body(self) -> bytes | None:
        return self.exchange.request_body or None


@dataclass
class _SpecResponse:
    exchange: Exchange

    @property
    def status_code(self) -> int:
        return self.exchange.status

    @property
    def content_type(self) -> str:
        return self.exchange.response_headers.get("content-type", "").lower()

    @property
    def headers(self) -> Headers:
        return Headers(list(self.exchange.response_headers.items()))

    @property
    def data(self) -> bytes | None:
        return self.exchange.response_body or None


def spec_violations(exchanges: list[Exchange]) -> list[str]:
    """Validate exchanges against the spec; return one line per violation.

    Requests are always validated. Responses are validated fully, except the documented
    deliberate deviations: 401 (token refused or expired; the spec documents no 401), injected
    faults (marked with the fault header), whose status must be one a PBX or its proxy sends
    (429, 500, 502, 503, 504), and user records broken on purpose (``record``).
    """
    spec = openapi()
    problems = []
    for ex in exchanges:
        where = f"{ex.method} {ex.path}{'?' + ex.query if ex.query else ''} -> {ex.status}"
        request = _SpecRequest(ex)
        try:
            spec.validate_request(request)
        except Exception as exc:
            problems.append(f"request {where}: {type(exc).__name__}: {exc} {exc.__cause__ or ''}")
            continue
        fault = ex.response_headers.get(FAULT_HEADER.lower())
        if fault == "injected":
            if ex.status not in (429, 500, 502, 503, 504):
                problems.append(f"fault {where}: injected faults must be 429, 500, 502-504")
            continue
        if fault == "record":
            continue
        if ex.status == 401:
            continue
        try:
            spec.validate_response(request, _SpecResponse(ex))
        except Exception as exc:
            problems.append(f"response {where}: {type(exc).__name__}: {exc} {exc.__cause__ or ''}")
    return problems


class Recorder:
    """ASGI wrapper that records every exchange (while ``enabled``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []
        self.enabled = True
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        # Read the whole request body first: the app may answer (fault, 401) without reading
        # it, but the validator must see what the client sent.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def recording_receive() -> Any:
            return replay.pop() if replay else await receive()

        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            request_headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            request_body=b"",
        )
        body_parts: list[bytes] = []

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                body_parts.append(message.get("body", b""))
            await send(message)

        await self.app(scope, recording_receive, recording_send)
        exchange.request_body = b"".join(chunks)
        exchange.response_body = b"".join(body_parts)
        with self._lock:
            self.exchanges.append(exchange)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Do not record (for deliberately off-spec requests)."""
        self.enabled = False
        try:
            yield
        finally:
            self.enabled = True


@dataclass
class RunningSimulator:
    """A simulator served on 127.0.0.1 with its state, controls and recorded exchanges."""

    url: str
    pbx: SimulatedPbx
    control: SimulatorControl
    recorder: Recorder
    login: str
    password: str

    @property
    def rest_url(self) -> str:
        return self.url + "/rest"

    @property
    def exchanges(self) -> list[Exchange]:
        return self.recorder.exchanges

    def calls(self, key: str) -> int:
        """How many requests of a kind ("GET /groups/{groupid}") the simulator got."""
        return self.control.requests[key]


@contextmanager
def raw_session(sim: RunningSimulator) -> Iterator[httpx.Client]:
    """An httpx client logged in by hand, for spec-level requests independent of the client."""
    with httpx.Client(base_url=sim.rest_url, headers={"X-Version": "2"}) as http:
        nonce = http.get("/login").json()["nonce"]
        inner = hashlib.sha512(sim.password.encode()).hexdigest()
        digest = hashlib.sha512(f"{sim.login}{nonce}{inner}".encode()).hexdigest()
        body = {"loginType": "Internal", "nonce": nonce, "secret": f"{sim.login}:{digest}"}
        response = http.post("/login", json=body)
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        http.headers["authToken"] = token
        yield http
        http.delete("/login")


@contextmanager
def running_simulator(
    pbx: SimulatedPbx, *, password: str = "s3cret-Pässword", **options: Any
) -> Iterator[RunningSimulator]:
    """Serve ``pbx`` on a free loopback port, recording exchanges for spec validation."""
    app = create_simulator_app(pbx, login="admin", password=password, **options)
    recorder = Recorder(app)
    with run_in_thread(recorder) as url:
        yield RunningSimulator(url, pbx, app.state.control, recorder, "admin", password)


@contextmanager
def spec_checked_simulators(*, users: int, groups: int, seed: int) -> Iterator[Any]:
    """A factory of simulators; at the end all are stopped and every exchange with them is
    checked against the official specification."""
    stack: list[Any] = []

    def make(users: int = users, groups: int = groups, seed: int = seed, **options: Any) -> Any:
        manager = running_simulator(SimulatedPbx.generate(users, groups, seed), **options)
        sim = manager.__enter__()
        stack.append((manager, sim))
        return sim

    yield make
    problems = []
    for manager, sim in reversed(stack):
        manager.__exit__(None, None, None)
        problems += spec_violations(sim.exchanges)
    assert not problems, "spec violations:\n" + "\n".join(problems[:20])
