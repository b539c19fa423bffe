"""``serve --log-format json``: every log line one JSON object, one line per request, and no
secret in any of them (passwords, session ids, tokens, query strings, cookies)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import update

from starface_connector.storage.db import make_engine
from starface_connector.storage.tables import ParameterRow
from tests.e2e.test_cli import SESSION_SECONDS, cli, default_db, environment, no_traceback, serving

MODULE_PASSWORD = "module-password-in-no-log-7f3a"
ADMIN_PASSWORD = "admin-password-in-no-log-91c2"
WRONG_PASSWORD = "wrong-password-in-no-log-55e0"
QUERY_SECRET = "query-secret-in-no-log-0b6d"
COOKIE_SECRET = "cookie-secret-in-no-log-c4e8"


def test_json_logs_one_line_per_request_and_no_secret(tmp_path: Path) -> None:
    env = environment(tmp_path) | {
        "STARFACE_CONNECTOR_MODULE_LOGIN": "starface-module",
        "STARFACE_CONNECTOR_MODULE_PASSWORD": MODULE_PASSWORD,
        "STARFACE_CONNECTOR_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    secrets = [MODULE_PASSWORD, ADMIN_PASSWORD, WRONG_PASSWORD, QUERY_SECRET, COOKIE_SECRET]
    assert cli(env, "db", "upgrade").returncode == 0
    engine = make_engine(f"sqlite:///{default_db(tmp_path)}")
    with engine.begin() as connection:  # a stored value that does not validate: a warning
        connection.execute(
            update(ParameterRow).where(ParameterRow.name == SESSION_SECONDS).values(value="soon")
        )
    engine.dispose()
    with serving(env, "--log-format", "json") as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            refused = http.post(
                "/starface/v1/session",
                json={"login": "starface-module", "password": WRONG_PASSWORD},
            )
            assert refused.status_code == 401
            opened = http.post(
                "/starface/v1/session",
                json={"login": "starface-module", "password": MODULE_PASSWORD},
            )
            assert opened.status_code == 200, opened.text
            session_id = opened.json()["sessionId"]
            sent = http.post(
                "/starface/v1/events",
                json={"events": [{"eventId": "e-1", "type": "NONE", "occurredAt": "x"}]},
                headers={"X-Session-Id": session_id},
            )
            assert sent.status_code == 200, sent.text
            token = http.post(
                "/api/v1/auth/login", json={"username": "sysadmin", "password": ADMIN_PASSWORD}
            ).json()["token"]
            listed = http.get(
                f"/api/v1/users?search={QUERY_SECRET}",
                headers={"Authorization": f"Bearer {token}", "Cookie": f"sc={COOKIE_SECRET}"},
            )
            assert listed.status_code == 200, listed.text
            secrets += [session_id, token]
        server.stop()
    no_traceback(server)
    lines = [json.loads(line) for line in server.stderr.splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == "starface_connector.access"]
    seen = [(r["method"], r["path"], r["status"]) for r in requests]
    assert ("GET", "/healthz", 200) in seen  # the test's wait for the start
    assert [request for request in seen if request[1] != "/healthz"] == [
        ("POST", "/starface/v1/session", 401),
        ("POST", "/starface/v1/session", 200),
        ("POST", "/starface/v1/events", 200),
        ("POST", "/api/v1/auth/login", 200),
        ("GET", "/api/v1/users", 200),
    ]
    for line in requests:
        assert line["client"] == "127.0.0.1"
        assert isinstance(line["ms"], float) and line["ms"] >= 0
        assert line["level"] == "info" and line["time"].endswith("Z")
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's own, as JSON
    (warning,) = [line for line in lines if line["level"] == "warning"]
    assert "SessionExpireSeconds" in warning["message"]
    everything = server.stdout + server.stderr
    for secret in secrets:
        assert secret not in everything
