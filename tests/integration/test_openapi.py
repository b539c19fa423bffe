"""/openapi.json tells the truth (issue 8, defect 12): every operation lists the status codes
it answers, every refusal has the one documented body (``ErrorOut``), 429 and 503 carry
``Retry-After``, and a 405 names every method of its path.

The schemathesis run (test_schemathesis.py) shows the app answers nothing undocumented; these
tests pin what is documented, and check real refusals against it on every database."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI

from starface_connector.api.responses import all_routes
from tests.conftest import ADMIN_PASSWORD, Connector
from tests.conftest_starface import Exchange, _SpecRequest, _SpecResponse
from tests.integration.helpers import P

ERROR = "#/components/schemas/ErrorOut"
#: what each operation can answer; the login operations 429 (throttling) and every operation
#: that reads or writes the database 503, each with Retry-After
EXPECTED: dict[tuple[str, str], set[int]] = {
    ("POST", "/starface/v1/session"): {200, 400, 401, 413, 422, 429, 503},
    ("DELETE", "/starface/v1/session"): {204, 401, 503},
    ("POST", "/starface/v1/events"): {200, 400, 401, 413, 422, 503},
    ("POST", "/api/v1/auth/login"): {200, 400, 401, 413, 422, 429, 503},
    ("GET", "/api/v1/me"): {200, 401, 404, 503},
    ("PUT", "/api/v1/me/acd-status"): {200, 400, 401, 404, 409, 413, 422, 503},
    ("PUT", "/api/v1/me/password"): {204, 400, 401, 403, 409, 413, 422, 429, 503},
    ("GET", "/api/v1/users"): {200, 401, 403, 422, 503},
    ("GET", "/api/v1/users/{users_uid}"): {200, 401, 403, 404, 422, 503},
    ("PUT", "/api/v1/users/{users_uid}/acd-status"): {200, 400, 401, 403, 404, 413, 422, 503},
    ("PUT", "/api/v1/users/{users_uid}/password"): {204, 400, 401, 403, 404, 413, 422, 503},
    ("GET", "/api/v1/groups"): {200, 401, 403, 503},
    ("GET", "/api/v1/parameters"): {200, 401, 403, 503},
    ("GET", "/api/v1/parameters/changes"): {200, 401, 403, 422, 503},
    ("PUT", "/api/v1/parameters/{name}"): {200, 400, 401, 403, 404, 413, 422, 503},
    ("GET", "/api/v1/events"): {200, 401, 403, 422, 503},
    ("POST", "/api/v1/import"): {200, 401, 403, 409, 422, 502, 503},
    ("GET", "/api/v1/imports"): {200, 401, 403, 422, 503},
    ("GET", "/healthz"): {200},
    ("GET", "/readyz"): {200, 503},
}
LOGINS = {
    ("POST", "/starface/v1/session"),
    ("POST", "/api/v1/auth/login"),
    ("PUT", "/api/v1/me/password"),  # a wrong old password counts as a failed login
}


@pytest.fixture(scope="module")
def document(server_url: str) -> dict[str, Any]:
    response = httpx.get(f"{server_url}/openapi.json")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_every_operation_lists_the_status_codes_it_can_answer(
    document: dict[str, Any], container: Any
) -> None:
    from starface_connector.api.app import create_app

    documented = {
        key: {int(code) for code in op["responses"]} for key, op in operations(document).items()
    }
    assert documented == EXPECTED
    # every operation the app serves is in the document, and so in the table above
    app = create_app(container)
    served = {
        (method, route.path)
        for route in all_routes(app)
        if getattr(route, "include_in_schema", False) and route.methods
        for method in route.methods - {"HEAD"}
    }
    assert served == set(EXPECTED)


def test_every_refusal_has_the_one_error_shape_and_retry_after_where_due(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert "HTTPValidationError" not in json.dumps(document)
    error = schemas["ErrorOut"]
    assert error["required"] == ["detail"]
    assert set(error["properties"]) == {"detail", "errors"}
    assert set(schemas["ErrorPlace"]["properties"]) == {"loc", "msg"}
    for (method, path), operation in operations(document).items():
        for code, answer in operation["responses"].items():
            if int(code) < 400:
                continue
            where = f"{method} {path} {code}"
            schema = answer["content"]["application/json"]["schema"]
            expected = "ReadyOut" if path == "/readyz" else "ErrorOut"
            assert schema == {"$ref": f"#/components/schemas/{expected}"}, where
            assert answer["description"], where
            if int(code) in (429, 503) and path != "/readyz":
                assert set(answer["headers"]) == {"Retry-After"}, where
        codes = {int(c) for c in operation["responses"]}
        assert (429 in codes) == ((method, path) in LOGINS), (method, path)
        assert (503 in codes) == (path != "/healthz"), (method, path)


def _exchange(
    c: Connector,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> Exchange:
    sent = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    all_headers = {"content-type": "application/json", **(headers or {})}
    url = f"{c.url}{path}" + (f"?{query}" if query else "")
    response = c.http.request(method, url, content=sent or None, headers=all_headers)
    return Exchange(
        method,
        path,
        query,
        all_headers,
        sent,
        response.status_code,
        {k.lower(): v for k, v in response.headers.items()},
        response.content,
    )


def test_real_refusals_are_what_the_document_says_on_every_database(
    connector: Connector,
) -> None:
    """Every refusal code, answered for real and validated against /openapi.json."""
    c = connector
    spec = OpenAPI.from_dict(c.http.get(f"{c.url}/openapi.json").json())
    assert c.one(c.user_update("4601"))["outcome"] == "applied"
    admin = {"Authorization": f"Bearer {c.token('sysadmin', ADMIN_PASSWORD)}"}
    agent = {"Authorization": f"Bearer {c.token('4601', '4601')}"}
    big = b'{"password": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    cases: list[tuple[int, Exchange]] = [
        (400, _exchange(c, "POST", "/api/v1/auth/login", raw=b'{"username": "\xff"}')),
        (401, _exchange(c, "POST", "/api/v1/auth/login", body={"username": "x", "password": "y"})),
        (401, _exchange(c, "GET", "/api/v1/groups")),
        (401, _exchange(c, "POST", "/starface/v1/events", body={"events": []})),
        (401, _exchange(c, "DELETE", "/starface/v1/session", headers={"X-Session-Id": "gone"})),
        (403, _exchange(c, "GET", "/api/v1/parameters", headers=agent)),
        (404, _exchange(c, "GET", "/api/v1/users/nobody", headers=admin)),
        (
            404,
            _exchange(c, "PUT", f"/api/v1/parameters/{P}Nope", body={"value": "1"}, headers=admin),
        ),
        (
            409,
            _exchange(
                c, "PUT", "/api/v1/me/acd-status", body={"acdStatus": "PAUSE"}, headers=admin
            ),
        ),
        (409, _exchange(c, "POST", "/api/v1/import", headers=admin)),
        (413, _exchange(c, "PUT", "/api/v1/users/4601/password", raw=big, headers=admin)),
        (422, _exchange(c, "GET", "/api/v1/users", query="offset=-1", headers=admin)),
        (422, _exchange(c, "POST", "/api/v1/auth/login", raw=b'{"username": "\\ud800"}')),
        (
            422,
            _exchange(
                c,
                "PUT",
                f"/api/v1/parameters/{P}IgnoreUserStatus",
                body={"value": "2"},
                headers=admin,
            ),
        ),
        (422, _exchange(c, "POST", "/starface/v1/session", raw=b"{,}")),
    ]
    for status, ex in cases:
        where = f"{ex.method} {ex.path} -> {ex.status}: {ex.response_body[:200]!r}"
        assert ex.status == status, where
        spec.validate_response(_SpecRequest(ex), _SpecResponse(ex))
        body = ex.json()
        assert set(body) <= {"detail", "errors"} and body["detail"], where


def test_a_405_names_every_method_of_its_path(server_url: str) -> None:
    for method, path, allowed in [
        ("OPTIONS", "/starface/v1/session", "DELETE, POST"),
        ("GET", "/starface/v1/session", "DELETE, POST"),
        ("PATCH", "/api/v1/users/4711", "GET"),
        ("DELETE", "/api/v1/parameters/changes", "GET, PUT"),
    ]:
        response = httpx.request(method, f"{server_url}{path}")
        assert response.status_code == 405, (method, path, response.text)
        assert response.headers["allow"] == allowed, (method, path)
        assert response.json() == {"detail": "Method Not Allowed"}
