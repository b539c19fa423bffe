"""StarfaceClient against the simulator on a real 127.0.0.1 port; no mocks.

Every exchange is validated against the official STARFACE spec when a test ends, so the client
is also checked to send spec-conform requests.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import socket
import ssl
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from starface_connector.serving import run_in_thread
from starface_connector.simulation import SimulatedPbx, create_simulator_app
from starface_connector.simulation.control import Fault
from starface_connector.starface.client import StarfaceClient, compute_secret, dialable
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


def test_tls_is_verified_by_default_and_accepts_a_ca_bundle(tmp_path: Path) -> None:
    bundle, cert, key, _ = appliance_certificate(tmp_path)
    pbx = SimulatedPbx.generate(10, 1)
    app = create_simulator_app(pbx, password="pw")
    with run_in_thread(app, ssl_certfile=cert, ssl_keyfile=key) as url:
        assert url.startswith("https://")
        with StarfaceClient(url, "admin", "pw", backoff_base=0.001) as client:
            with pytest.raises(StarfaceUnreachable, match="certificate") as caught:
                client.users()
            assert "\n" not in str(caught.value)
        assert app.state.control.requests["GET /login"] == 0  # no retries on bad certificates
        with StarfaceClient(url, "admin", "pw", verify=bundle) as client:
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


# --------------------------------------------------------------------------- issue 10
# A real STARFACE, read against its specification: rights, numbers, errors, records, TLS.


def test_an_account_without_the_admin_right_is_told_apart_and_its_list_marked_incomplete(
    make_sim: Any,
) -> None:
    sim = make_sim(users=20, groups=2)
    with fast_client(sim) as client:
        full = client.fetch_snapshot()
        sim.control.account_admin = False
        partial = client.fetch_snapshot()
    assert full.incomplete == "" and len(full.users) == 20
    assert len(partial.users) == 10  # what the account "can access"
    assert partial.incomplete == (
        "the REST account 'admin' lacks the 'administration' permission, so STARFACE may "
        "list only some users"
    )
    assert partial.why_no_deletes == partial.incomplete


def test_the_admin_permission_is_configurable_and_a_missing_one_names_those_offered(
    make_sim: Any,
) -> None:
    sim = make_sim(users=20, groups=1)
    with fast_client(sim, admin_permission="Administration") as client:
        assert {u.id for u in client.fetch_snapshot().users if u.admin} == sim.pbx.admin_ids()
    with (
        fast_client(sim, admin_permission="Admin-Rechte") as client,
        pytest.raises(StarfaceProtocolError) as caught,
    ):
        client.fetch_snapshot()
    assert str(caught.value) == (
        "STARFACE offers no permission named 'Admin-Rechte', so administrators cannot be "
        "determined; it offers: callList, phoneBook, fax, voicemail, ucc, conference, "
        "administration, ifmc (choose one with --starface-admin-permission)"
    )


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"type": "INTERNAL", "number": "20001"}, "20001"),
        (
            {
                "type": "EXTERNAL",
                "number": "5551001",
                "exitCode": "00",
                "nationalPrefix": "49",
                "localPrefix": "721",
            },
            "+49 721 5551001",
        ),
        (
            {"type": "EXTERNAL", "number": "99", "nationalPrefix": "0049", "localPrefix": "0721"},
            "+49 721 99",
        ),
        (
            {"type": "EXTERNAL", "number": "5551", "exitCode": "0", "localPrefix": "721"},
            "0 721 5551",
        ),
        ({"type": "EXTERNAL", "number": "+4972199"}, "+4972199"),
    ],
)
def test_a_phone_number_is_dialable_from_its_parts(item: dict[str, Any], expected: str) -> None:
    assert dialable({"id": 1, **item}) == expected


def test_external_numbers_reach_jtel_in_full_and_extensions_stay(make_sim: Any) -> None:
    sim = make_sim(users=3, groups=0)
    user_id = sim.pbx.user_ids()[0]
    sim.pbx.update_user(user_id, phone_numbers=["20001", "5551001", "+33 1 4020"])
    with helpers.raw_session(sim) as http:
        raw = {n["number"]: n for n in http.get("/phonenumbers").json()}
    # The spec's parts: exit code, country, area, the number itself.
    assert {k: raw["5551001"].get(k) for k in ("exitCode", "nationalPrefix", "localPrefix")} == {
        "exitCode": "00",
        "nationalPrefix": "49",
        "localPrefix": "721",
    }
    with fast_client(sim) as client:
        user = next(u for u in client.fetch_snapshot().users if u.id == user_id)
    assert user.phone_numbers == ("+33 1 4020", "+49 721 5551001", "20001")


def test_a_group_deleted_while_it_is_read_is_left_out_and_reported(make_sim: Any) -> None:
    sim = make_sim(users=20, groups=4)
    doomed = sim.pbx.group_ids()[-1]

    def delete_at_the_first_details(key: str) -> None:
        if key == "GET /groups/{groupid}" and doomed in sim.pbx.group_ids():
            sim.pbx.delete_group(doomed)

    sim.control.on_request = delete_at_the_first_details
    with fast_client(sim) as client:
        snapshot = client.fetch_snapshot()
    assert snapshot.groups_gone == (doomed,)
    assert snapshot.skipped == ()
    assert [g.id for g in snapshot.groups] == sim.pbx.group_ids()
    assert sim.calls("GET /groups/{groupid}") == 4  # the 500 was not retried
    assert sim.calls("GET /groups") == 2  # the list, read again after the 500


def test_a_group_that_answers_500_but_still_exists_is_skipped_with_the_pbx_message(
    make_sim: Any,
) -> None:
    sim = make_sim(users=20, groups=3)
    sim.control.fail_next(Fault(500, "GET /groups/{groupid}", message="database locked"))
    with fast_client(sim) as client:
        snapshot = client.fetch_snapshot()
    (skipped,) = snapshot.skipped
    assert skipped.kind == "group" and skipped.id in sim.pbx.group_ids()
    assert skipped.reason == (
        f"GET /groups/{skipped.id} answered HTTP 500: database locked 500 (code INTERNAL_ERROR)"
    )
    assert len(snapshot.groups) == 2 and snapshot.groups_gone == ()


@pytest.mark.parametrize(
    ("fault", "attempts", "outcome"),
    [
        (Fault(500, "GET /users"), 1, "HTTP 500: simulated fault 500 (code INTERNAL_ERROR)"),
        (Fault(429, "GET /users"), 1, "unexpected HTTP 429"),
        (Fault(503, "GET /users"), 2, None),
        (Fault(429, "GET /users", retry_after="0"), 2, None),
    ],
    ids=["500-permanent", "429-without-retry-after", "503-retried", "429-retry-after"],
)
def test_only_what_can_pass_on_retry_is_retried(
    make_sim: Any, fault: Fault, attempts: int, outcome: str | None
) -> None:
    sim = make_sim(users=5, groups=0)
    sim.control.fail_next(fault)
    with fast_client(sim) as client:
        if outcome is None:
            assert len(client.users()) == 5
        else:
            with pytest.raises(StarfaceError) as caught:
                client.users()
            assert outcome in str(caught.value) and "\n" not in str(caught.value)
    assert sim.calls("GET /users") == attempts


def test_tokens_expire_after_four_hours_and_the_client_logs_in_again() -> None:
    now = [1000.0]
    app = create_simulator_app(SimulatedPbx.generate(3, 0), password="pw", monotonic=lambda: now[0])
    with run_in_thread(app) as url, StarfaceClient(url, "admin", "pw", backoff_base=0.001) as c:
        template = httpx.get(url + "/rest/login").json()
        assert template["secret"] is None and template["loginType"] == "Internal"
        c.users()
        now[0] += 4 * 3600 - 1
        c.users()
        assert app.state.control.logins_succeeded == 1
        now[0] += 1  # four hours after the login: the token is gone
        assert len(c.users()) == 3
        assert app.state.control.logins_succeeded == 2


def test_unreadable_user_records_are_skipped_and_the_rest_is_read(make_sim: Any) -> None:
    sim = make_sim(users=12, groups=2)
    ids = sim.pbx.user_ids()
    nameless, strange, empty = ids[0], ids[1], ids[2]
    sim.pbx.set_group_members(sim.pbx.group_ids()[0], [nameless, ids[5]])
    sim.pbx.set_group_members(sim.pbx.group_ids()[1], [strange, ids[6]])
    sim.control.broken_users = {
        nameless: {"login": None},
        strange: {"firstName": 42},
        empty: {"email": None, "language": None},
    }
    with fast_client(sim) as client:
        snapshot = client.fetch_snapshot()
    by_id = {u.id: u for u in snapshot.users}
    assert sorted(by_id) == sorted(set(ids) - {nameless, strange})
    assert (by_id[empty].email, by_id[empty].language) == ("", "")
    login = sim.pbx.snapshot().users[1].login
    assert [(r.kind, r.id, r.login, r.reason) for r in snapshot.skipped] == [
        ("user", nameless, None, "no Login-ID"),
        ("user", strange, login, "firstName is int, not text"),
        ("group", sim.pbx.group_ids()[0], None, f"member {nameless} is a user record that "
         "could not be read"),
    ]  # fmt: skip
    # A member whose login is known stays a member; one whose login is not keeps the group.
    (kept,) = snapshot.groups
    assert login in kept.member_logins
    assert snapshot.why_no_deletes.startswith("1 user record(s) without a readable Login-ID")
    assert snapshot.kept_logins == {login}


@pytest.mark.parametrize("login_type", ["INTERNAL", "internal", "Internal"])
def test_login_type_is_matched_whatever_its_case(login_type: str) -> None:
    app = create_simulator_app(SimulatedPbx.generate(3, 0), password="pw", login_type=login_type)
    with run_in_thread(app) as url, StarfaceClient(url, "admin", "pw") as client:
        assert len(client.users()) == 3
    assert compute_secret("ACTIVE_DIRECTORY", "1", "n", "p") == compute_secret(
        "ActiveDirectory", "1", "n", "p"
    )


# --------------------------------------------------------------------------- TLS for appliances


def appliance_certificate(folder: Path) -> tuple[str, str, str, str]:
    """A certificate as appliances make their own: a self-made CA whose BasicConstraints are
    not critical signs the PBX's certificate, which has no key identifiers. Python 3.13's
    strict X.509 checks refuse it ("Missing Authority Key Identifier"). Returns (CA bundle,
    certificate file, key file, SHA-256 fingerprint of the certificate)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "STARFACE appliance CA")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "starface.local")])
    now = datetime.now(UTC)

    def builder(subject: x509.Name, public: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
        )

    ca = (
        builder(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    cert = (
        builder(name, key.public_key())
        .add_extension(x509.SubjectAlternativeName([address]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    bundle, cert_file, key_file = folder / "ca.pem", folder / "pbx.pem", folder / "pbx.key"
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return str(bundle), str(cert_file), str(key_file), fingerprint


@pytest.fixture
def python_3_13_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.13's default: ``create_default_context(cafile=...)`` verifies strictly. On
    older Pythons the same default is set here, so the test means the same everywhere."""
    if sys.version_info >= (3, 13):
        return
    original = ssl.create_default_context

    def strict(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = original(*args, **kwargs)
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        return context

    monkeypatch.setattr(ssl, "create_default_context", strict)


def test_a_ca_bundle_verifies_an_appliance_certificate_under_strict_defaults(
    tmp_path: Path, python_3_13_tls: None
) -> None:
    bundle, cert, key, _ = appliance_certificate(tmp_path)
    strict = ssl.create_default_context(cafile=bundle)
    assert strict.verify_flags & ssl.VERIFY_X509_STRICT  # what Python 3.13 does by default
    app = create_simulator_app(SimulatedPbx.generate(4, 0), password="pw")
    with run_in_thread(app, ssl_certfile=cert, ssl_keyfile=key) as url:
        with pytest.raises(httpx.ConnectError, match="Authority Key Identifier"):
            httpx.get(url + "/rest/login", verify=strict)  # the strict default refuses it ...
        with StarfaceClient(url, "admin", "pw", verify=bundle) as client:
            assert len(client.users()) == 4  # ... the connector, given the bundle, does not
        with StarfaceClient(url, "admin", "pw", backoff_base=0.001) as client:
            with pytest.raises(StarfaceUnreachable, match="certificate") as caught:
                client.users()  # still verified by default, against the system CAs
            assert "--starface-cert-fingerprint" in str(caught.value)


def test_a_pinned_fingerprint_trusts_exactly_that_certificate(tmp_path: Path) -> None:
    _, cert, key, fingerprint = appliance_certificate(tmp_path)
    other = appliance_certificate(tmp_path / "other")[3]
    app = create_simulator_app(SimulatedPbx.generate(4, 0), password="pw")
    with run_in_thread(app, ssl_certfile=cert, ssl_keyfile=key) as url:
        with StarfaceClient(url, "admin", "pw", fingerprint=fingerprint) as client:
            assert len(client.users()) == 4
        logins = app.state.control.requests["GET /login"]
        with (
            StarfaceClient(url, "admin", "pw", fingerprint=other, backoff_base=0.001) as client,
            pytest.raises(StarfaceUnreachable) as caught,
        ):
            client.users()
        message = str(caught.value)
        assert "\n" not in message and "is not the pinned" in message
        assert other.replace(":", "").lower() in message
        # Refused in the handshake: not a single request reached the PBX.
        assert app.state.control.requests["GET /login"] == logins
    with pytest.raises(StarfaceUnreachable, match="no SHA-256 fingerprint"):
        StarfaceClient("https://127.0.0.1:1", "admin", "pw", fingerprint="abc")
