"""The web console in a real browser: sign-in, the live board, users, the event log, the
parameters, the import and the agent's own page, in English, German and French."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from starface_connector.api.app import create_app
from starface_connector.domain.parameters import spec_for
from starface_connector.domain.reasons import Why
from starface_connector.serving import run_in_thread
from starface_connector.storage.tables import ImportRunRow
from starface_connector.web import i18n, words
from tests.browser.conftest import SHOTS, Console, shoot, sign_in, sign_in_as_sysadmin
from tests.conftest import (
    Connector,
    MovableClock,
    open_container,
    reset,
    scratch_database,
    settings_for,
)

P = "Portal.WebServices.Starface."
#: generous: these tests check that the page changes by itself, not how fast (see bench/)
LIVE = 10_000


def agents(c: Connector, *logins: str, admin: bool = False) -> None:
    """Agents created through the STARFACE contract, as the module would."""
    results = c.results(*(c.user_update(login, admin=admin) for login in logins))
    assert {r["outcome"] for r in results} == {"applied"}, results


def mark_page(page: Page) -> None:
    """A marker that a reload would wipe out: proof that a change came in live."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


def board_row(page: Page, login: str) -> object:
    return page.locator(f'#board tr[data-login="{login}"]')


# ---- signing in ------------------------------------------------------------------------------


def test_sign_in_and_out_and_a_wrong_password(fresh: Console, page: Page) -> None:
    c = fresh.connector()
    agents(c, "5001")
    page.goto(f"{fresh.url}/board")  # not signed in: the login form, then back to the board
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, "login")
    for username, password in (("sysadmin", "wrong"), ("nobody", "nobody"), ("5001", "x")):
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    shoot(page, "login-wrong-password")
    page.get_by_label("Username").fill("sysadmin")
    page.get_by_label("Password").fill("sysadmin-secret-for-tests")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{fresh.url}/board")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sc_console")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{fresh.url}/board")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # the session is over


def test_too_many_wrong_sign_ins_get_a_page_that_says_how_long_to_wait(
    fresh: Console, page: Page
) -> None:
    c = fresh.connector()
    agents(c, "5002")
    page.context.add_cookies([{"name": "lang", "value": "de", "url": fresh.url}])

    def sign_in_de(password: str) -> None:
        page.goto(f"{fresh.url}/")
        page.get_by_label("Benutzername").fill("5002")
        page.get_by_label("Passwort").fill(password)
        page.get_by_role("button", name="Anmelden").click()

    for _ in range(10):
        sign_in_de("wrong")
        expect(page.get_by_role("alert")).to_have_text("Benutzername oder Passwort ist falsch.")
    sign_in_de("5002")  # the right password, too late
    expect(page.locator("#throttled")).to_have_text(
        "Zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in 30 Sekunden erneut."
    )
    shoot(page, "login-throttled-de")
    clock = fresh.container.clock
    assert isinstance(clock, MovableClock)
    clock.advance(30)
    try:
        sign_in_de("5002")
        page.wait_for_url(f"{fresh.url}/me")
        expect(page.locator("#initial-password")).to_contain_text("Anfangspasswort")
        shoot(page, "me-initial-password-de")
    finally:
        clock.reset()


# ---- the live board --------------------------------------------------------------------------


def test_a_logged_in_event_turns_the_agent_to_calls_and_media_live(
    fresh: Console, page: Page
) -> None:
    c = fresh.connector()
    c.set_param("IgnoreUserStatus", "0")
    agents(c, "5101", "5102")
    sign_in_as_sysadmin(page, fresh.url)
    row = page.locator('#board tr[data-login="5101"]')
    expect(row.locator("td.acd")).to_contain_text("Logged off")
    expect(page.locator("#live-state")).to_have_text("Live")
    mark_page(page)
    assert c.one(c.user_status("5101", "LOGGED_IN"))["outcome"] == "applied"
    expect(row.locator("td.acd")).to_contain_text("Calls and Media", timeout=LIVE)
    expect(row.locator("td.acd .icon")).to_have_text("▶")  # a symbol as well as the colour
    expect(page.locator('[data-count="CALLS_AND_MEDIA"]')).to_have_text("1")
    assert c.one(c.phone_status("5102", "RINGING"))["outcome"] == "applied"
    expect(page.locator('#board tr[data-login="5102"] td.phone')).to_contain_text(
        "Ringing", timeout=LIVE
    )
    assert not_reloaded(page)
    shoot(page, "board")


def test_a_change_through_a_second_instance_reaches_the_board_of_the_first(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two serve instances on one PostgreSQL database: the board follows the database."""
    with scratch_database("postgresql", tmp_path_factory.mktemp("two")) as url:
        first, second = open_container(settings_for(url)), open_container(settings_for(url))
        try:
            with (
                run_in_thread(create_app(first)) as one,
                run_in_thread(create_app(second)) as two,
                httpx.Client(timeout=30) as http,
            ):
                c = Connector(two, http)  # everything goes through the second instance
                c.set_param("IgnoreUserStatus", "0")
                agents(c, "5201")
                page = browser.new_page()
                try:
                    sign_in_as_sysadmin(page, one)
                    expect(page.locator("#live-state")).to_have_text("Live")
                    mark_page(page)
                    assert c.one(c.user_status("5201", "LOGGED_IN"))["outcome"] == "applied"
                    row = page.locator('#board tr[data-login="5201"] td.acd')
                    expect(row).to_contain_text("Calls and Media", timeout=LIVE)
                    assert not_reloaded(page)
                    shoot(page, "board-second-instance")
                finally:
                    page.close()
        finally:
            first.close()
            second.close()


def test_an_agent_sets_pause_and_the_admins_board_shows_it(
    fresh: Console, browser: Browser, page: Page
) -> None:
    c = fresh.connector()
    agents(c, "5301")
    sign_in_as_sysadmin(page, fresh.url)
    expect(page.locator("#live-state")).to_have_text("Live")
    mark_page(page)
    agent = browser.new_page()
    try:
        sign_in(agent, fresh.url, "5301", "5301")
        agent.wait_for_url(f"{fresh.url}/me")
        expect(agent.locator("#my-acd")).to_contain_text("Logged off")
        shoot(agent, "me")
        agent.get_by_role("button", name="Pause").click()
        expect(agent.locator("#my-acd")).to_contain_text("Pause")
        expect(agent.get_by_role("button", name="Pause")).to_have_attribute("aria-pressed", "true")
    finally:
        agent.close()
    expect(page.locator('#board tr[data-login="5301"] td.acd')).to_contain_text(
        "Pause", timeout=LIVE
    )
    assert not_reloaded(page)
    logged = c.admin("GET", "/api/v1/events", params={"type": "ACD_STATUS_SET"}).json()["items"]
    assert [(e["login"], e["source"]) for e in logged] == [("5301", "console")]


def test_an_agent_sees_the_own_telephone_live_and_changes_the_password(
    fresh: Console, page: Page
) -> None:
    c = fresh.connector()
    agents(c, "5401")
    sign_in(page, fresh.url, "5401", "5401")
    page.wait_for_url(f"{fresh.url}/me")
    expect(page.locator("#live-state")).to_have_text("Live")
    # still on the initial password (the UsersUID): asked to choose one
    expect(page.locator("#initial-password")).to_contain_text("initial password")
    assert c.one(c.phone_status("5401", "BUSY"))["outcome"] == "applied"
    expect(page.locator("#my-phone")).to_contain_text("Busy", timeout=LIVE)
    page.get_by_label("Current password").fill("wrong")
    page.get_by_label("New password (at least 8 characters)").fill("a-new-passphrase")
    page.get_by_label("New password again").fill("a-new-passphrase")
    page.get_by_role("button", name="Change", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("The current password is wrong")
    page.get_by_label("Current password").fill("5401")
    page.get_by_label("New password (at least 8 characters)").fill("a-new-passphrase")
    page.get_by_label("New password again").fill("a-new-passphrase")
    page.get_by_role("button", name="Change", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Your password was changed.")
    expect(page.get_by_role("heading", name=re.compile("My status"))).to_be_visible()
    expect(page.locator("#initial-password")).to_have_count(0)
    assert c.login("5401", "5401").status_code == 401
    assert c.login("5401", "a-new-passphrase").status_code == 200


def test_an_agent_can_open_neither_the_board_nor_another_users_page(
    fresh: Console, page: Page
) -> None:
    c = fresh.connector()
    agents(c, "5501", "5502")
    sign_in(page, fresh.url, "5501", "5501")
    page.wait_for_url(f"{fresh.url}/me")
    for path in ("/board", "/users/5502", "/users", "/events", "/parameters", "/import"):
        response = page.goto(f"{fresh.url}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    shoot(page, "forbidden")
    stream = page.request.get(f"{fresh.url}/board/stream")
    assert stream.status == 403


# ---- users, event log, parameters -------------------------------------------------------------


def test_users_list_and_a_users_page_with_history_acd_status_and_password(
    fresh: Console, page: Page
) -> None:
    c = fresh.connector()
    c.set_param("IgnoreUserStatus", "0")
    agents(c, "5601", "5602", "5603")
    c.one(c.user_status("5601", "LOGGED_IN"))
    c.one(c.phone_status("5601", "RINGING"))
    sign_in_as_sysadmin(page, fresh.url)
    page.goto(f"{fresh.url}/users")
    expect(page.get_by_text("3 user(s)")).to_be_visible()
    page.get_by_label("Name, login or e-mail").fill("5602")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("1 user(s)")).to_be_visible()
    shoot(page, "users")
    page.goto(f"{fresh.url}/users/5601")
    history = page.locator("table tbody tr")
    expect(history.first).to_contain_text("Telephone status changed from Offline to Ringing.")
    expect(history.nth(1)).to_contain_text(
        "ACD status changed from Logged off to Calls and Media after LOGGED_IN "
        f"({P}IgnoreUserStatus is 0)."
    )
    page.get_by_label("ACD status", exact=True).select_option("PAUSE")
    page.get_by_role("button", name="Set", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("The ACD status was set.")
    expect(history.first).to_contain_text(
        "ACD status changed from Calls and Media to Pause by sysadmin."
    )
    page.get_by_label("New password").fill("reset-by-admin")
    page.get_by_role("button", name="Reset", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("The password was reset")
    shoot(page, "user")
    assert c.login("5601", "reset-by-admin").status_code == 200


def test_the_event_log_says_what_happened_and_why_and_filters(fresh: Console, page: Page) -> None:
    c = fresh.connector()
    agents(c, "5701", "5702")
    c.one(c.user_status("5701", "LOGGED_IN"))  # ignored under the standard parameters
    c.one(c.phone_status("5702", "IDLE"))
    c.one(c.phone_status("ghost", "IDLE"))
    sign_in_as_sysadmin(page, fresh.url)
    page.goto(f"{fresh.url}/events")
    expect(page.locator("table.log tbody tr")).to_have_count(5)
    expect(page.locator("table.log tbody tr").nth(2)).to_contain_text(
        f"Ignored because {P}IgnoreUserStatus is 1."
    )
    page.get_by_label("Outcome").select_option("rejected")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.log tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Refused: there is no user ghost.")
    page.get_by_label("Outcome").select_option("")
    page.get_by_label("Login", exact=True).fill("5702")
    page.get_by_label("Type").select_option("PHONE_STATUS")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Telephone status changed from Offline to Idle.")
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page.get_by_label("From (UTC)").fill(future)
    page.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text("No entries match.")
    page.get_by_label("From (UTC)").fill("")
    page.get_by_role("button", name="Filter").click()
    rows.first.get_by_role("link", name="5702").click()
    page.wait_for_url(f"{fresh.url}/users/5702")
    page.goto(f"{fresh.url}/events")
    shoot(page, "events")


def test_a_parameter_change_shows_in_its_history_and_in_the_event_log(
    fresh: Console, page: Page
) -> None:
    sign_in_as_sysadmin(page, fresh.url)
    page.goto(f"{fresh.url}/parameters")
    section = page.locator("section#IgnoreUserStatus")
    expect(section).to_contain_text("login status messages (LOGGED_IN / LOGGED_OUT)")
    expect(section).to_contain_text("Standard value: 1 · Current value: 1")
    section.get_by_label("New value").select_option("0")
    section.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("IgnoreUserStatus was saved.")
    expect(page.locator('[data-current="IgnoreUserStatus"]')).to_have_text("0")
    history = page.locator("table tbody tr").first
    expect(history).to_contain_text(f"{P}IgnoreUserStatus")
    expect(history).to_contain_text("sysadmin")
    shoot(page, "parameters")
    page.goto(f"{fresh.url}/events?type=PARAMETER_SET")
    expect(page.locator("table.log tbody tr").first).to_contain_text(
        f"{P}IgnoreUserStatus changed from 1 to 0 by sysadmin."
    )


def test_an_invalid_parameter_value_shows_the_error(fresh: Console, page: Page) -> None:
    sign_in_as_sysadmin(page, fresh.url)
    page.goto(f"{fresh.url}/parameters")
    section = page.locator("section#SessionExpireSeconds")
    section.get_by_label("New value").fill("5")
    section.get_by_role("button", name="Save").click()
    expect(section.get_by_role("alert")).to_have_text(
        f"{P}SessionExpireSeconds must be a whole number of seconds from 10 to 86400, not “5”."
    )
    expect(section.get_by_label("New value")).to_have_attribute("aria-invalid", "true")
    expect(page.locator('[data-current="SessionExpireSeconds"]')).to_have_text("300")
    shoot(page, "parameters-invalid")


# ---- import ----------------------------------------------------------------------------------


def test_an_import_dry_run_shows_its_table_then_applies_with_progress(
    fresh: Console, page: Page
) -> None:
    with fresh.container.engine.begin() as connection:
        connection.execute(ImportRunRow.__table__.delete())
    sign_in_as_sysadmin(page, fresh.url)
    page.goto(f"{fresh.url}/import")
    page.get_by_role("button", name="Show what would change").click()
    expect(page.get_by_role("heading", name="What the import would change")).to_be_visible()
    expect(page.locator('[data-cell="users-created"]')).to_have_text("12")
    expect(page.locator('[data-cell="users-deleted"]')).to_have_text("0")
    expect(page.locator('[data-cell="groups-ignored"]')).to_have_text("2")
    shoot(page, "import-dry-run")
    assert fresh.connector().admin("GET", "/api/v1/users").json()["total"] == 0
    page.get_by_role("button", name="Apply the import").click()
    expect(page.get_by_role("status")).to_contain_text(
        "It finished with 12 change(s).", timeout=LIVE
    )
    history = page.locator("table tbody tr")
    expect(history.first).to_contain_text("console")
    expect(history.nth(1)).to_contain_text("yes")  # the dry run before it
    shoot(page, "import")
    assert fresh.connector().admin("GET", "/api/v1/users").json()["total"] == 12


# ---- languages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "calls"),
    [("de", "Anrufe und Medien"), ("fr", "Appels et médias")],  # jtel's own terms
)
def test_german_and_french_pages(
    fresh: Console, browser: Browser, language: str, calls: str
) -> None:
    def said(english: str) -> str:
        translated = i18n.gettext(language, english)
        assert translated and translated != english, f"{english!r} is not translated"
        return translated

    c = fresh.connector()
    c.set_param("IgnoreUserStatus", "0")
    agents(c, "5801")
    c.one(c.user_status("5801", "LOGGED_IN"))
    c.one(c.phone_status("ghost", "IDLE"))
    context = browser.new_context(locale=language, extra_http_headers={"Accept-Language": language})
    page = context.new_page()
    try:
        page.goto(f"{fresh.url}/")
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.get_by_role("heading", name=said("Sign in"))).to_be_visible()
        page.get_by_label(said("Username")).fill("sysadmin")
        page.get_by_label(said("Password")).fill("sysadmin-secret-for-tests")
        page.get_by_role("button", name=said("Sign in")).click()
        page.wait_for_url(f"{fresh.url}/board")
        expect(page.get_by_role("heading", name=said("Agent board"))).to_be_visible()
        expect(page.locator('#board tr[data-login="5801"] td.acd')).to_contain_text(calls)
        expect(page.get_by_role("button", name=said("Sign out"))).to_be_visible()
        shoot(page, f"board-{language}")
        page.goto(f"{fresh.url}/events")
        unknown = said(words.REASON[Why.UNKNOWN_USER]).format(login="ghost")
        expect(page.locator("table.log tbody tr").first).to_contain_text(unknown)
        changed = said(words.REASON[Why.ACD_CHANGED]).format(
            old=said("Logged off"),
            new=calls,
            status="LOGGED_IN",
            parameter=f"{P}IgnoreUserStatus",
        )
        expect(page.locator("table.log")).to_contain_text(changed)  # translated words inside
        shoot(page, f"events-{language}")
        page.goto(f"{fresh.url}/parameters")
        explanation = spec_for("IgnoreUserStatus").explanation.in_language(language)
        expect(page.locator("section#IgnoreUserStatus")).to_contain_text(explanation)
        expect(page.locator("section#IgnoreUserStatus h2")).to_have_text(f"{P}IgnoreUserStatus")
        shoot(page, f"parameters-{language}")
        # the switcher on every page, remembered
        other = "fr" if language == "de" else "de"
        page.locator(f'nav.languages a[hreflang="{other}"]').click()
        expect(page.locator("html")).to_have_attribute("lang", other)
        page.goto(f"{fresh.url}/board")
        expect(page.locator("html")).to_have_attribute("lang", other)
    finally:
        context.close()


# ---- safety ----------------------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused(fresh: Console, page: Page) -> None:
    c = fresh.connector()
    agents(c, "5901")
    sign_in_as_sysadmin(page, fresh.url)
    for path, form in (
        ("/acd-status", {"login": "5901", "status": "PAUSE"}),
        ("/parameters", {"name": f"{P}IgnoreUserStatus", "value": "0"}),
        ("/password-reset", {"login": "5901", "password": "stolen-password"}),
        ("/logout", {}),
    ):
        for token in ({}, {"csrf": "forged"}):
            response = page.request.post(f"{fresh.url}{path}", form={**form, **token})
            assert response.status == 403, (path, token)
            assert "security token" in response.text()
    assert c.user("5901")["acdStatus"] == "LOGGED_OFF"  # type: ignore[index]
    params = {p["name"]: p["value"] for p in c.admin("GET", "/api/v1/parameters").json()}
    assert params[f"{P}IgnoreUserStatus"] == "1"
    assert c.login("5901", "stolen-password").status_code == 401
    page.goto(f"{fresh.url}/board")
    expect(page.get_by_role("heading", name="Agent board")).to_be_visible()  # still signed in
    login = page.request.post(f"{fresh.url}/login", form={"username": "sysadmin", "password": "x"})
    assert login.status == 403  # the login form has a token too


def test_pages_carry_the_security_headers_and_no_inline_script(fresh: Console, page: Page) -> None:
    sign_in_as_sysadmin(page, fresh.url)
    for path in ("/board", "/users", "/events", "/parameters", "/import"):
        response = page.goto(f"{fresh.url}{path}")
        assert response is not None
        headers = response.headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert page.locator("script:not([src])").count() == 0


def test_the_api_docs_work_offline(fresh: Console, page: Page) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{fresh.url}/docs")
    expect(page.get_by_text("/starface/v1/events").first).to_be_visible()
    shoot(page, "api-docs")
    assert all(url.startswith(fresh.url) for url in requests), requests


@pytest.fixture
def many(console: Console) -> Iterator[Console]:
    reset(console.container.engine)
    yield console
    reset(console.container.engine)


def test_the_board_lists_two_thousand_agents_and_counts_them(many: Console, page: Page) -> None:
    c = many.connector()
    for start in range(0, 2000, 500):
        agents(c, *(str(10000 + n) for n in range(start, start + 500)))
    sign_in_as_sysadmin(page, many.url)
    expect(page.locator("#board tbody tr")).to_have_count(2000)
    expect(page.locator('[data-count="LOGGED_OFF"]')).to_have_text("2000")
    expect(page.locator('[data-count="OFFLINE"]')).to_have_text("2000")


def test_a_busy_board_as_the_readme_shows_it(fresh: Console, page: Page) -> None:
    """Agents in every state and three groups; the picture in docs/board.png comes from here
    (test-output/screenshots/readme-board.png)."""
    c = fresh.connector()
    c.set_param("IgnoreUserStatus", "0")
    c.set_param("IgnoreGroupUpdate", "0")
    names = [
        ("Anna", "Müller"), ("Jürgen", "Köhler"), ("Amélie", "Lefèvre"), ("Siobhán", "O'Brien"),
        ("Björn", "Schäfer"), ("Chloé", "Dubois"), ("Grace", "Walker"), ("Loïc", "Côté"),
        ("Käthe", "Krüger"), ("Noël", "Girard"), ("Sophie", "Becker"), ("Oliver", "Hughes"),
    ]  # fmt: skip
    logins = [str(2001 + n) for n in range(len(names))]
    c.results(
        *(
            c.user_update(login, firstName=first, familyName=last)
            for login, (first, last) in zip(logins, names, strict=True)
        )
    )
    c.results(
        c.group_update(101, "Kundenservice", logins[:6]),
        c.group_update(102, "Vertrieb", logins[6:10]),
        c.group_update(103, "Service client", logins[9:]),
    )
    ready = [c.user_status(login, "LOGGED_IN") for login in logins[:9]]
    phones = ["IDLE", "RINGING", "BUSY", "BUSY", "IDLE", "RINGING", "BUSY", "IDLE", "BUSY"]
    c.results(*ready, *(c.phone_status(a, s) for a, s in zip(logins, phones, strict=False)))
    c.results(c.phone_status(logins[9], "IDLE"), c.phone_status(logins[10], "OFFLINE"))
    sign_in(page, fresh.url, logins[3], logins[3])
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in_as_sysadmin(page, fresh.url)
    expect(page.locator("#live-state")).to_have_text("Live")
    expect(page.locator('[data-count="CALLS_AND_MEDIA"]')).to_have_text("8")
    expect(page.locator('[data-count="PAUSE"]')).to_have_text("1")
    expect(page.locator('[data-count="BUSY"]')).to_have_text("4")
    page.set_viewport_size({"width": 1100, "height": 760})
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "readme-board.png"))
