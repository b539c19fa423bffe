"""StarfaceClient against the simulator on a real 127.0.0.1 port; no mocks.

Every exchange is validated against the official STARFACE spec when a test ends, so the client
is also checked to send spec-conform requests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from starface_connector.serving import run_in_thread
from starface_connector.simulation import SimulatedPbx, create_simulator_app
from starface_connector.starface.client import StarfaceClient, compute_secret
from starface_connector.starface.errors import (
    StarfaceAuthError,
    StarfaceError,
    StarfaceProtocolError,
    StarfaceUnreachable,
)
from tests import conftest_starface as helpers

CLIENT_LOGGER = "starface_connector.starface.client"


@pytest.fixture
def make_sim() -> Iterator[Any]:
    with helpers.spec_checked_simulators(users=60, groups=5, seed=7) as make:
        yield make


@pytest.fixture
def sim(make_sim: Any) -> Any:
    return make_sim()


def fast_client(sim: Any, **kwargs: Any) -> StarfaceClient:
    """A client with tiny backoff so retry tests stay fast."""
    options: dict[str, Any] = {"backoff_base": 0.001, "timeout": 5.0}
    options.update(kwargs)
    return StarfaceClient(sim.url, sim.login, sim.password, **options)


def retries_logged(caplog: pytest.LogCaptureFixture) -> int:
    """How often the client waited to retry (it logs each retry at DEBUG)."""
    return sum(
        r.name == CLIENT_LOGGER and r.getMessage().startswith("retrying after transient failure")
        for r in caplog.records
    )


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- login


def test_compute_secret_follows_the_spec_formula() -> None:
    login, nonce, password = "1001", "4f1c0e", "Pässwort!"
    inner = hashlib.sha512(password.encode()).hexdigest()
    outer = hashlib.sha512((login + nonce + inner).encode()).hexdigest()
    assert compute_secret("Internal", login, nonce, password) == f"{login}:{outer}"
    assert len(outer) == 128
    ad = base64.b64encode((login + nonce + password).encode()).decode()
    assert compute_secret("ActiveDirectory", login, nonce, password) == ad
    with pytest.raises(StarfaceProtocolError):
        compute_secret("Kerberos", login, nonce, password)


def test_login_posts_the_nonce_secret_and_sends_headers(sim: Any) -> None:
    with fast_client(sim) as client:
        token = client.login()
        client.users()
    exchanges = sim.exchanges
    get_login = next(e for e in exchanges if e.method == "GET" and e.path == "/rest/login")
    post_login = next(e for e in exchanges if e.method == "POST" and e.path == "/rest/login")
    nonce = get_login.json()["nonce"]
    body = json.loads(post_login.request_body)
    inner = hashlib.sha512(sim.password.encode()).hexdigest()
    expected = "admin:" + hashlib.sha512(f"admin{nonce}{inner}".encode()).hexdigest()
    assert body == {"loginType": "Internal", "nonce": nonce, "secret": expected}
    assert post_login.json() == {"token": token}
    assert all(e.request_headers.get("x-version") == "2" for e in exchanges)
    users_call = next(e for e in exchanges if e.path == "/rest/users")
    assert users_call.request_headers["authtoken"] == token
    assert users_call.status == 200


def test_wrong_password_raises_auth_error_without_retrying(sim: Any) -> None:
    client = StarfaceClient(sim.url, sim.login, "wrong-password", backoff_base=0.001)
    with client, pytest.raises(StarfaceAuthError) as caught:
        client.users()
    message = str(caught.value)
    assert "\n" not in message
    assert "'admin'" in message and "wrong login ID or password" in message
    assert "wrong-password" not in message
    assert sim.control.logins_failed == 1
    assert sim.calls("GET /users") == 0


def test_unreachable_port_raises_one_line_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    client = StarfaceClient(url, "admin", "pw", retries=2, backoff_base=0.001)
    with (
        caplog.at_level(logging.DEBUG, logger=CLIENT_LOGGER),
        client,
        pytest.raises(StarfaceUnreachable) as caught,
    ):
        client.users()
    message = str(caught.value)
    assert "\n" not in message
    assert url in message and "gave up after 3 attempts" in message
    assert retries_logged(caplog) == 2  # 3 attempts, no further round (no second login try)


@pytest.mark.parametrize("url", ["", "not a url", "ftp://pbx.example/rest", "http://", "pbx:x"])
def test_bad_url_raises_unreachable(url: str) -> None:
    with pytest.raises(StarfaceUnreachable) as caught:
        StarfaceClient(url, "admin", "pw")
    assert "invalid STARFACE URL" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "given",
    [
        "http://pbx.example",
        "http://pbx.example/",
        "http://pbx.example/rest",
        "http://pbx.example/rest/",
    ],
)
def test_base_url_is_normalised_to_rest(given: str) -> None:
    client = StarfaceClient(given, "admin", "pw")
    try:
        assert client.base_url == "http://pbx.example/rest"
    finally:
        client._http.close()


def test_missing_ca_bundle_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StarfaceUnreachable, match="CA bundle"):
        StarfaceClient("https://127.0.0.1:1", "admin", "pw", verify=str(tmp_path / "none.pem"))


# --------------------------------------------------------------------------- session handling


def test_expired_token_causes_exactly_one_relogin(sim: Any) -> None:
    with fast_client(sim) as client:
        first = client.users()
        old_token = client.token
        sim.control.invalidate_tokens()
        second = client.users()
        assert client.token != old_token
    assert first == second
    assert sim.calls("POST /login") == 2
    assert sim.calls("GET /users") == 3  # ok, 401, ok
    assert [e.status for e in sim.exchanges if e.path == "/rest/users"] == [200, 401, 200]


def test_token_refused_even_after_relogin_raises_auth_error(sim: Any) -> None:
    with fast_client(sim) as client:
        client.login()
        sim.control.accept_tokens = False
        with pytest.raises(StarfaceAuthError, match="even after a fresh login"):
            client.groups()
    assert sim.calls("POST /login") == 2  # the first login and exactly one re-login
    assert sim.calls("GET /groups") == 2


def test_concurrent_401s_share_one_relogin(make_sim: Any) -> None:
    sim = make_sim(users=40, groups=12)
    with fast_client(sim, concurrency=6) as client:
        client.login()
        sim.control.invalidate_tokens()
        snapshot = client.fetch_snapshot()
    assert snapshot == sim.pbx.snapshot()
    assert sim.calls("POST /login") == 2


def test_logout_invalidates_the_token(sim: Any) -> None:
    client = fast_client(sim)
    with client:
        token = client.login()
        assert sim.control.active_sessions == 1
        client.logout()
        assert client.token is None
        assert sim.control.active_sessions == 0
        response = httpx.get(
            sim.rest_url + "/users", headers={"authToken": token, "X-Version": "2"}
        )
        assert response.status_code == 401
        # The client logs in again by itself when used after a logout.
        assert client.groups()
    assert sim.control.active_sessions == 0  # leaving the with block logged out again
    assert sim.calls("DELETE /login") == 2


def test_close_does_not_hang_when_the_pbx_is_gone(caplog: pytest.LogCaptureFixture) -> None:
    app = create_simulator_app(SimulatedPbx.generate(3, 0), password="pw")
    with run_in_thread(app) as url:
        client = StarfaceClient(url, "admin", "pw", retries=4, backoff_base=0.5)
        client.login()
    with caplog.at_level(logging.DEBUG, logger=CLIENT_LOGGER):
        client.close()  # the logout fails once, quietly, without backoff
    assert client.token is None
    failed = [r for r in caplog.records if r.getMessage().startswith("logout during close failed")]
    assert len(failed) == 1 and failed[0].levelno == logging.DEBUG
    assert retries_logged(caplog) == 0


# --------------------------------------------------------------------------- snapshot


def test_snapshot_matches_the_pbx_state(make_sim: Any) -> None:
    sim = make_sim(users=150, groups=8, seed=11)
    with fast_client(sim) as client:
        snapshot = client.fetch_snapshot()
    truth = sim.pbx.snapshot()
    assert snapshot == truth
    # Independent checks, so a shared mistake in snapshot() cannot hide a client bug.
    assert len(snapshot.users) == 150 and len(snapshot.groups) == 8
    assert {u.id for u in snapshot.users if u.admin} == sim.pbx.admin_ids() != set()
    by_id = {u.id: u for u in snapshot.users}
    with helpers.raw_session(sim) as http:
        # The per-user endpoint (number ids only) must agree with the bulk derivation; an
        # external number is dialable in full: "+" country, area, the number itself.
        numbers = {
            n["id"]: (
                f"+{n['nationalPrefix']} {n['localPrefix']} {n['number']}"
                if n["type"] == "EXTERNAL" and n.get("nationalPrefix")
                else n["number"]
            )
            for n in http.get("/phonenumbers").json()
        }
        for user_id in list(by_id)[:15]:
            path = f"/users/{user_id}/phonenumberconfig/phonenumbers/"
            assignments = http.get(path).json()
            assert {a["accountId"] for a in assignments} <= {user_id}
            expected = sorted(numbers[a["phoneNumberId"]] for a in assignments)
            assert list(by_id[user_id].phone_numbers) == expected
        for group in snapshot.groups:
            detail = http.get(f"/groups/{group.id}").json()
            member_ids = {a["id"] for a in detail["assignableUsers"] if a["assigned"]}
            assert group.member_logins == tuple(sorted(by_id[i].login for i in member_ids))
            assert list(group.member_logins) == sorted(group.member_logins)
    assert any(len(u.phone_numbers) == 2 for u in snapshot.users)
    assert any(not u.first_name.isascii() or not u.family_name.isascii() for u in snapshot.users)


def test_snapshot_uses_no_per_user_requests_and_bounded_concurrency(make_sim: Any) -> None:
    sim = make_sim(users=80, groups=24, latency=0.01)
    with fast_client(sim, concurrency=4) as client:
        client.fetch_snapshot()
    counts = dict(sim.control.requests)
    assert counts.pop("GET /groups/{groupid}") == 24
    assert counts == {
        "GET /login": 1,
        "POST /login": 1,
        "GET /users": 1,
        "GET /groups": 1,
        "GET /permissions": 1,
        "GET /permissions/{permissionId}/users": 1,
        "GET /phonenumbers": 1,
        # the REST account's own rights (issue 10: deletes only from a complete list)
        "GET /users/me": 1,
        "GET /permissions/users/{userId}": 1,
        "DELETE /login": 1,
    }
    assert 2 <= sim.control.max_in_flight <= 4


def test_snapshot_survives_30_percent_server_errors(make_sim: Any) -> None:
    sim = make_sim(users=100, groups=10, error_rate=0.3, seed=5)
    with fast_client(sim) as client:  # the shipped retry budget
        snapshot = client.fetch_snapshot()
    assert snapshot == sim.pbx.snapshot()
    assert sim.control.faults_injected >= 3  # the faults really happened


def test_persistent_server_errors_give_up_after_retries(make_sim: Any) -> None:
    """A PBX that answers 5xx is up: it gets twice the retries of an unreachable one."""
    sim = make_sim(users=5, groups=1, error_rate=1.0)
    with fast_client(sim, retries=2) as client, pytest.raises(StarfaceError) as caught:
        client.users()
    assert isinstance(caught.value, StarfaceUnreachable | StarfaceProtocolError)
    assert "gave up after 5 attempts" in str(caught.value)
    assert sim.calls("GET /login") == 5


def test_snapshot_filters_unassigned_users_of_groups(make_sim: Any) -> None:
    sim = make_sim(users=50, groups=4, list_unassigned_users=True)
    with fast_client(sim) as client:
        snapshot = client.fetch_snapshot()
    assert snapshot == sim.pbx.snapshot()
    detail = next(e for e in sim.exchanges if e.path.startswith("/rest/groups/")).json()
    assert len(detail["assignableUsers"]) == 50
    assert any(not entry["assigned"] for entry in detail["assignableUsers"])


def test_pbx_changes_show_up_in_the_next_snapshot(make_sim: Any) -> None:
    sim = make_sim(users=30, groups=3)
    pbx = sim.pbx
    with fast_client(sim) as client:
        before = client.fetch_snapshot()
        victim, promoted, renamed = pbx.user_ids()[:3]
        new_id = pbx.add_user(
            first_name="Zoë", family_name="Çelik", language="fr", admin=True,
            phone_numbers=["29999", "+4972199"],
        )  # fmt: skip
        pbx.update_user(renamed, first_name="Grégoire", email="g@example.com")
        pbx.set_admin(promoted, not {u.id: u for u in before.users}[promoted].admin)
        group_id = pbx.group_ids()[0]
        pbx.set_group_members(group_id, [new_id, renamed])
        pbx.delete_user(victim)
        after = client.fetch_snapshot()
    assert after == pbx.snapshot() != before
    users = {u.id: u for u in after.users}
    assert victim not in users
    assert users[new_id].admin and users[new_id].phone_numbers == ("+4972199", "29999")
    assert users[renamed].first_name == "Grégoire" and users[renamed].email == "g@example.com"
    before_admin = {u.id: u for u in before.users}[promoted].admin
    assert users[promoted].admin is not before_admin
    group = next(g for g in after.groups if g.id == group_id)
    assert group.member_logins == tuple(sorted([users[new_id].login, users[renamed].login]))


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def self_signed_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def test_tls_is_verified_by_default_and_accepts_a_ca_bundle(
    self_signed_cert: tuple[str, str],
) -> None:
    cert, key = self_signed_cert
    pbx = SimulatedPbx.generate(10, 1)
    app = create_simulator_app(pbx, password="pw")
    with run_in_thread(app, ssl_certfile=cert, ssl_keyfile=key) as url:
        assert url.startswith("https://")
        with StarfaceClient(url, "admin", "pw", backoff_base=0.001) as client:
            with pytest.raises(StarfaceUnreachable, match="certificate") as caught:
                client.users()
            assert "\n" not in str(caught.value)
        assert app.state.control.requests["GET /login"] == 0  # no retries on bad certificates
        with StarfaceClient(url, "admin", "pw", verify=cert) as client:
            assert len(client.users()) == 10


# --------------------------------------------------------------------------- scale


def test_fetch_snapshot_of_10k_users_and_200_groups_never_asks_per_user() -> None:
    """Speed is measured in bench/bench_import.py; here: complete, and no request per user."""
    pbx = SimulatedPbx.generate(10_000, 200, seed=42)
    app = create_simulator_app(pbx, password="pw")
    with run_in_thread(app) as url, StarfaceClient(url, "admin", "pw") as client:
        snapshot = client.fetch_snapshot()
    assert len(snapshot.users) == 10_000 and len(snapshot.groups) == 200
    assert snapshot == pbx.snapshot()
    requests = sum(app.state.control.requests.values())
    assert requests <= 200 + 10, app.state.control.requests
