"""The STARFACE external session through real HTTP: opening, using, ending and expiry."""

from __future__ import annotations

from tests.conftest import ADMIN_PASSWORD, MODULE_LOGIN, MODULE_PASSWORD, Connector, MovableClock
from tests.integration.helpers import event_log, get_user, users

EVENTS = "/starface/v1/events"
SESSION = "/starface/v1/session"
EXPIRED = {"detail": "unknown or expired session: open a new one"}


def test_open_session_answers_a_session_id_and_the_configured_expiry(
    connector: Connector,
) -> None:
    c = connector
    first = c.open_session()
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"sessionId", "expiresInSeconds"}
    assert body["expiresInSeconds"] == 300
    assert isinstance(body["sessionId"], str) and len(body["sessionId"]) >= 32
    c.set_param("SessionExpireSeconds", "3600")
    second = c.open_session()
    assert second.status_code == 200, second.text
    assert second.json()["expiresInSeconds"] == 3600
    assert second.json()["sessionId"] != body["sessionId"]
    # both sessions are live
    for session_id, login in ((body["sessionId"], "1001"), (second.json()["sessionId"], "1002")):
        event = c.user_update(login)
        response = c.send(event, session_id=session_id)
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["outcome"] == "applied"
    assert users(c)["total"] == 2


def test_wrong_credentials_are_401_and_open_no_session(connector: Connector) -> None:
    c = connector
    wrong = [
        (MODULE_LOGIN, "wrong-password"),
        (MODULE_LOGIN, ""),
        (MODULE_LOGIN, MODULE_PASSWORD + " "),
        ("someone-else", MODULE_PASSWORD),
        (MODULE_LOGIN.upper(), MODULE_PASSWORD),
        ("sysadmin", ADMIN_PASSWORD),  # the jtel administrator is not the module account
    ]
    for login, password in wrong:
        response = c.open_session(login, password)
        assert response.status_code == 401, (login, password, response.text)
        assert response.json() == {"detail": "wrong login or password"}
        assert "sessionId" not in response.text
    assert c.session_id is None


def test_a_malformed_session_request_is_422(connector: Connector) -> None:
    c = connector
    for body in (
        {"login": MODULE_LOGIN},
        {"login": 1, "password": MODULE_PASSWORD},
        {"login": MODULE_LOGIN + "\x00", "password": MODULE_PASSWORD},
        [],
        None,
    ):
        response = c.http.post(f"{c.url}{SESSION}", json=body)
        assert response.status_code == 422, (body, response.text)


def test_events_without_a_live_session_are_401_and_not_applied(connector: Connector) -> None:
    c = connector
    assert c.open_session().status_code == 200
    live = c.session_id
    api_token = c.token("sysadmin", ADMIN_PASSWORD)
    event = c.user_update("1101")
    body = {"events": [event]}
    attempts: list[dict[str, str]] = [
        {},
        {"X-Session-Id": ""},
        {"X-Session-Id": "not-a-session"},
        {"X-Session-Id": (live or "") + "x"},
        {"X-Session-Id": api_token},  # a jtel API token is not a STARFACE session
        {"Authorization": f"Bearer {live}"},  # nor is the session a bearer token
    ]
    for headers in attempts:
        response = c.http.post(f"{c.url}{EVENTS}", json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json() == EXPIRED
    # the session id does not open the jtel API either
    assert c.as_token(live or "", "GET", "/api/v1/users").status_code == 401
    assert users(c)["total"] == 0
    assert event_log(c) == []
    # the live session still works, and the event was not used up
    assert c.one(event)["outcome"] == "applied"


def test_delete_session_ends_it_and_only_it(connector: Connector) -> None:
    c = connector
    assert c.open_session().status_code == 200
    ended = c.session_id or ""
    assert c.open_session().status_code == 200
    other = c.session_id or ""
    response = c.http.delete(f"{c.url}{SESSION}", headers={"X-Session-Id": ended})
    assert response.status_code == 204, response.text
    assert response.content == b""
    event = c.user_update("1201")
    response = c.send(event, session_id=ended)
    assert (response.status_code, response.json()) == (401, EXPIRED)
    again = c.http.delete(f"{c.url}{SESSION}", headers={"X-Session-Id": ended})
    assert (again.status_code, again.json()) == (401, EXPIRED)
    nothing = c.http.delete(f"{c.url}{SESSION}")
    assert (nothing.status_code, nothing.json()) == (401, EXPIRED)
    assert users(c)["total"] == 0
    response = c.send(event, session_id=other)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["outcome"] == "applied"
    assert get_user(c, "1201")["usersUid"] == "1201"


def test_session_expires_after_the_configured_idle_time_and_slides_with_use(
    connector: Connector, clock: MovableClock
) -> None:
    """SessionExpireSeconds=10: a session used every ~6 s lives on past 10 s, an idle one dies.

    The connector's clock is moved forward; nothing sleeps.
    """
    c = connector
    c.set_param("SessionExpireSeconds", "10")
    assert c.one(c.user_update("1301"))["outcome"] == "applied"
    opened = []
    for _ in range(2):
        response = c.open_session()
        assert response.status_code == 200, response.text
        assert response.json()["expiresInSeconds"] == 10
        opened.append(c.session_id or "")
    used, idle = opened

    def post(session_id: str, status: str) -> tuple[int, dict[str, object]]:
        response = c.send(c.phone_status("1301", status), session_id=session_id)
        return response.status_code, response.json()

    assert post(used, "RINGING")[0] == 200
    assert post(idle, "BUSY")[0] == 200
    clock.advance(6)
    assert post(used, "IDLE")[0] == 200  # 6 s idle: alive
    clock.advance(5.5)
    # 11.5 s after opening: the idle session is gone, its event not applied ...
    assert post(idle, "RINGING") == (401, EXPIRED)
    assert get_user(c, "1301")["phoneStatus"] == "IDLE"
    # ... while the one used 5.5 s ago slid on past the 10 s since it was opened
    status, body = post(used, "BUSY")
    assert status == 200, body
    assert get_user(c, "1301")["phoneStatus"] == "BUSY"
    # an expired session stays expired, also for DELETE
    response = c.http.delete(f"{c.url}{SESSION}", headers={"X-Session-Id": idle})
    assert (response.status_code, response.json()) == (401, EXPIRED)
