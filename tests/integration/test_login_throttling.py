"""Login throttling over HTTP on every database (issue 8, part 1): the three login routes and
the own password change share one count per source address and one per account, answer 429
with Retry-After, and write the lockout to the event log; X-Forwarded-For counts only from a
trusted proxy. The clock is moved, never slept on.

Also the own password (PUT /api/v1/me/password, ``initialPassword``) on the API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from starface_connector.api.app import create_app
from starface_connector.bootstrap import Container
from starface_connector.service.accounts import CONSOLE
from starface_connector.serving import run_in_thread
from starface_connector.web.session import LOGIN_CSRF_COOKIE, SESSION_COOKIE, csrf_for
from tests.conftest import (
    ADMIN_PASSWORD,
    MODULE_LOGIN,
    MODULE_PASSWORD,
    Connector,
    MovableClock,
    open_container,
    settings_for,
)
from tests.integration.helpers import event_log, get_user


def console_login(
    c: Connector, username: str, password: str, language: str = "en"
) -> httpx.Response:
    return c.http.post(
        f"{c.url}/login",
        data={"username": username, "password": password, "csrf": "t"},
        cookies={LOGIN_CSRF_COOKIE: "t", "lang": language},
    )


def module_login(c: Connector, login: str, password: str) -> httpx.Response:
    return c.http.post(f"{c.url}/starface/v1/session", json={"login": login, "password": password})


def test_ten_failures_over_the_three_routes_lock_the_address_with_back_off(
    connector: Connector, clock: MovableClock, container: Container
) -> None:
    c = connector
    verified = container.hasher.verifications
    for n in range(4):
        assert c.login(f"guess{n}", "wrong").status_code == 401
        assert module_login(c, f"module{n}", "wrong").status_code == 401
    assert console_login(c, "guess9", "wrong").status_code == 401
    assert console_login(c, "guess10", "wrong").status_code == 401
    assert container.hasher.verifications == verified + 10
    # the eleventh attempt, right or wrong, on any route: 429 without checking the password
    for refused in (
        c.login("sysadmin", ADMIN_PASSWORD),
        module_login(c, MODULE_LOGIN, MODULE_PASSWORD),
    ):
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "30"
        assert refused.json() == {"detail": "too many failed logins; retry after 30 seconds"}
    page = console_login(c, "sysadmin", ADMIN_PASSWORD, language="de")
    assert page.status_code == 429 and page.headers["Retry-After"] == "30"
    assert page.headers["content-type"].startswith("text/html")
    assert "Versuchen Sie es in 30 Sekunden erneut" in page.text
    assert SESSION_COOKIE not in page.cookies
    assert container.hasher.verifications == verified + 10
    (audit,) = event_log(c, type="LOGIN_THROTTLED")
    assert audit["source"] == "console" and audit["login"] is None
    assert audit["reason"] == "logins from 127.0.0.1 refused for 30 s: 10 failed logins"
    assert audit["outcome"] == "rejected"

    clock.advance(30)
    assert c.login("sysadmin", "wrong").status_code == 401  # one more: twice as long
    second = c.login("sysadmin", ADMIN_PASSWORD)
    assert (second.status_code, second.headers["Retry-After"]) == (429, "60")
    clock.advance(60)
    assert c.login("sysadmin", ADMIN_PASSWORD).status_code == 200
    assert len(event_log(c, type="LOGIN_THROTTLED")) == 2


def test_an_account_is_locked_from_every_address_and_a_success_clears_its_count(
    connector: Connector, clock: MovableClock, container: Container
) -> None:
    c = connector
    assert c.one(c.user_update("6001"))["outcome"] == "applied"
    # failures as 6001 from ten addresses (behind a trusted proxy, see below): the account
    for n in range(10):
        assert not container.accounts.sign_in("6001", "wrong", address=f"198.51.100.{n}")
    refused = c.login("6001", "6001")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert c.login("sysadmin", ADMIN_PASSWORD).status_code == 200  # another account: not
    (audit,) = event_log(c, type="LOGIN_THROTTLED")
    assert (audit["source"], audit["login"]) == ("api", "6001")
    clock.advance(30)
    assert c.login("6001", "6001").status_code == 200
    for _ in range(9):  # the success cleared the account's count
        assert c.login("6001", "wrong").status_code == 401
    assert c.login("6001", "6001").status_code == 200


@pytest.fixture
def behind_proxy(container: Container, clock: MovableClock) -> Iterator[str]:
    """A second connector on the same database that trusts the loopback proxy."""
    settings = settings_for(
        container.settings.resolved_database_url(), trusted_proxies=["127.0.0.0/8", "::1"]
    )
    trusting = open_container(settings, clock)
    try:
        with run_in_thread(create_app(trusting)) as url:
            yield url
    finally:
        trusting.close()


def test_forwarded_for_counts_only_from_a_trusted_proxy(
    connector: Connector, behind_proxy: str
) -> None:
    c = connector

    def attempt(url: str, username: str, forwarded: str) -> int:
        response = c.http.post(
            f"{url}/api/v1/auth/login",
            json={"username": username, "password": "wrong"},
            headers={"X-Forwarded-For": forwarded},
        )
        return response.status_code

    # behind the trusted proxy: the right-most address the proxy did not add is the client,
    # whatever the client wrote to the left of it
    for n in range(10):
        assert attempt(behind_proxy, f"nobody{n}", f"10.{n}.0.1, 203.0.113.5") == 401
    (audit,) = event_log(c, type="LOGIN_THROTTLED")
    assert audit["reason"] == "logins from 203.0.113.5 refused for 30 s: 10 failed logins"
    assert attempt(behind_proxy, "someone", "203.0.113.5") == 429
    assert attempt(behind_proxy, "someone", "203.0.113.5, 127.0.0.1") == 429  # trusted hop
    assert attempt(behind_proxy, "someone", "203.0.113.6") == 401  # a neighbour: not locked

    # without trust the header is the client's own writing: it counts under the peer
    for n in range(10):
        assert attempt(c.url, f"other{n}", f"192.0.2.{n}") == 401
    assert attempt(c.url, "someone", "192.0.2.200") == 429
    newest = event_log(c, type="LOGIN_THROTTLED")[0]
    assert newest["reason"] == "logins from 127.0.0.1 refused for 30 s: 10 failed logins"


def test_own_password_change_on_the_api(connector: Connector, clock: MovableClock) -> None:
    c = connector
    assert c.one(c.user_update("6101"))["outcome"] == "applied"
    token = c.token("6101", "6101")
    me = c.as_token(token, "GET", "/api/v1/me").json()
    assert me["initialPassword"] is True

    def change(token: str, old: str, new: str) -> httpx.Response:
        body = {"oldPassword": old, "newPassword": new}
        return c.as_token(token, "PUT", "/api/v1/me/password", json=body)

    short = change(token, "6101", "short")
    assert short.status_code == 422 and "newPassword" in short.text
    wrong = change(token, "wrong", "a-long-new-password")
    assert wrong.status_code == 403, wrong.text
    assert wrong.json() == {"detail": "the old password is wrong"}
    assert change(token, "6101", "a-long-new-password").status_code == 204
    # the change ends every sign-in of the user, this one too
    assert c.as_token(token, "GET", "/api/v1/me").status_code == 401
    assert c.login("6101", "6101").status_code == 401
    token = c.token("6101", "a-long-new-password")
    assert c.as_token(token, "GET", "/api/v1/me").json()["initialPassword"] is False
    assert get_user(c, "6101")["usersUid"] == "6101"
    # sysadmin's password is the configuration's
    root = c.token("sysadmin", ADMIN_PASSWORD)
    refused = change(root, ADMIN_PASSWORD, "another-password")
    assert refused.status_code == 409, refused.text
    assert "STARFACE_CONNECTOR_ADMIN_PASSWORD" in refused.json()["detail"]
    assert c.as_token(root, "GET", "/api/v1/me").json()["initialPassword"] is False


def test_a_wrong_old_password_counts_as_a_failed_login(connector: Connector) -> None:
    c = connector
    assert c.one(c.user_update("6201"))["outcome"] == "applied"
    token = c.token("6201", "6201")
    body = {"oldPassword": "wrong", "newPassword": "a-long-new-password"}
    for _ in range(10):
        assert c.as_token(token, "PUT", "/api/v1/me/password", json=body).status_code == 403
    body["oldPassword"] = "6201"
    refused = c.as_token(token, "PUT", "/api/v1/me/password", json=body)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert c.login("6201", "6201").status_code == 429
    assert c.as_token(token, "GET", "/api/v1/me").status_code == 200  # the token lives on


def test_the_console_shows_the_lockout_in_the_event_log_and_the_own_password_notice(
    connector: Connector, container: Container, clock: MovableClock
) -> None:
    c = connector
    assert c.one(c.user_update("6301"))["outcome"] == "applied"
    for _ in range(10):
        assert console_login(c, "6301", "wrong").status_code == 401
    root = container.accounts.sign_in("sysadmin", ADMIN_PASSWORD, CONSOLE, address="::1")
    assert root is not None
    for language, kind, sentence in (
        ("en", "Logins refused", "Logins from 127.0.0.1 refused for 30 seconds"),
        ("de", "Anmeldungen abgewiesen", "Anmeldungen als 6301 für 30 Sekunden abgewiesen"),
        ("fr", "Connexions refusées", "Connexions depuis 127.0.0.1 refusées pendant 30"),
    ):
        page = c.http.get(
            f"{c.url}/events",
            params={"type": "LOGIN_THROTTLED"},
            cookies={SESSION_COOKIE: root, "lang": language},
        )
        assert page.status_code == 200
        assert kind in page.text and sentence in page.text, language
    # an agent still on the initial password is asked to choose one on the own page
    clock.advance(30)
    agent = container.accounts.sign_in("6301", "6301", CONSOLE, address="192.0.2.1")
    assert agent is not None
    page = c.http.get(f"{c.url}/me", cookies={SESSION_COOKIE: agent, "lang": "de"})
    assert 'id="initial-password"' in page.text and "Anfangspasswort" in page.text
    changed = _change_in_console(c, agent, "6301", "a-long-new-pw")
    assert changed.status_code == 303 and changed.headers["location"] == "/me?done=password"
    again = changed.cookies[SESSION_COOKIE]
    page = c.http.get(f"{c.url}/me", cookies={SESSION_COOKIE: again, "lang": "de"})
    assert page.status_code == 200 and 'id="initial-password"' not in page.text


def _change_in_console(c: Connector, session: str, old: str, new: str) -> httpx.Response:
    return httpx.post(
        f"{c.url}/me/password",
        data={"old": old, "new": new, "repeat": new, "csrf": csrf_for(session)},
        cookies={SESSION_COOKIE: session},
        follow_redirects=False,
    )


@pytest.fixture(autouse=True)
def _admin_token_first(connector: Connector, container: Container) -> None:
    """The tests' own administrator token, taken before a test locks the loopback address."""
    connector.admin_token = container.accounts.sign_in("sysadmin", ADMIN_PASSWORD)
