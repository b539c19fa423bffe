"""The web console: server-rendered pages for administrators and agents, at ``/``.

Same accounts and rights as the API, read on every request. Pages are Jinja2 templates in the
reader's language; the only script is ``static/console.js`` (live updates by EventSource).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import anyio
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sse_starlette.sse import EventSourceResponse

from ..api.client import address_of
from ..api.deps import Services
from ..api.schemas import CLEAN
from ..bootstrap import Container
from ..domain.model import AcdStatus, EventType, ManualChange, Outcome, PhoneStatus
from ..domain.parameters import (
    IGNORE_GROUP_UPDATE,
    SPECS,
    InvalidParameter,
    ParameterKind,
    spec_for,
)
from ..domain.text import MAX_BIGINT, MAX_LOGIN
from ..service.accounts import CONSOLE
from ..service.errors import ImportBusy, ImportRefused, PbxError
from ..service.ports import Source
from ..service.throttling import LoginThrottled
from ..storage.views import AgentView, LogFilter
from . import i18n, words
from .jobs import ImportJob
from .live import Change, LiveFeed
from .session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Visitor,
    csrf_valid,
    new_login_csrf,
    set_cookie,
    visitor,
)

TEMPLATES = Path(__file__).with_name("templates")
PAGE_SIZE = 50
STATUS_TYPES = (EventType.PHONE_STATUS, EventType.USER_STATUS, ManualChange.ACD_STATUS_SET)
LOG_TYPES = [*EventType, *ManualChange]

#: what the console reads from a query or a form: text any database stores alike, of a
#: bounded length (longer, or with NUL, is answered 422 with a page that says so)
Short = Annotated[str, Query(max_length=200), CLEAN]
LoginQuery = Annotated[str, Query(max_length=MAX_LOGIN), CLEAN]
Target = Annotated[str, Query(max_length=2000), CLEAN]
LoginField = Annotated[str, Form(max_length=MAX_LOGIN), CLEAN]
ShortField = Annotated[str, Form(max_length=200), CLEAN]
Token = Annotated[str, Form(max_length=200), CLEAN]
PasswordField = Annotated[str, Form(max_length=256), CLEAN]


class Denied(Exception):
    """The visitor may not see this page: 403, or the login form when not signed in."""


@functools.cache
def environment(language: str) -> Environment:
    """The templates, translated into one language (built on first use)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(languages=i18n.LANGUAGES, words=words, quote=quote)
    env.filters["when"] = _when
    return env


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def current_visitor(request: Request, services: Services) -> Visitor:
    return visitor(request, services)


#: who asks, with the language to answer in (resolved per request; rights read now)
Current = Annotated[Visitor, Depends(current_visitor)]


def render(
    request: Request, who: Visitor, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page in the visitor's language."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = (
        environment(who.language)
        .get_template(template)
        .render(visitor=who, lang=who.language, path=request.url.path, here=here, **context)
    )
    return HTMLResponse(html, status_code=status)


def agent_json(agent: AgentView, _: Callable[[str], str]) -> dict[str, Any]:
    """An agent as the board's script shows it: codes, words and symbols."""
    acd, phone = AcdStatus(agent.acd_status), PhoneStatus(agent.phone_status)
    return {
        "login": agent.login,
        "name": agent.name,
        "groups": list(agent.groups),
        "acd": acd.value,
        "acdLabel": _(words.ACD_STATUS[acd]),
        "acdIcon": words.ACD_ICON[acd],
        "phone": phone.value,
        "phoneLabel": _(words.PHONE_STATUS[phone]),
        "phoneIcon": words.PHONE_ICON[phone],
        "dnd": agent.dnd,
    }


def create_console(container: Container) -> APIRouter:
    """The console's routes, bound to one connector."""
    router = APIRouter(include_in_schema=False)
    feed = LiveFeed(container.views)
    job = ImportJob()

    def admin(who: Visitor) -> None:
        if who.principal is None:
            raise Denied("sign in")
        if not who.admin:
            raise Denied("administrators only")

    def signed_in(who: Visitor) -> None:
        if who.principal is None:
            raise Denied("sign in")

    def back(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def refused(request: Request, who: Visitor) -> HTMLResponse:
        return render(request, who, "error.html", status=403, kind="csrf")

    # ---- sign in and out, language ----------------------------------------------------------

    @router.get("/")
    def home(request: Request, who: Current, next: Target = "") -> Response:
        if who.principal is not None:
            return back(_local(next) or ("/board" if who.admin else "/me"))
        token = new_login_csrf()
        response = render(
            request, Visitor(None, who.language, token), "login.html", next=_local(next)
        )
        set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
        return response

    @router.post("/login")
    async def login(
        request: Request,
        who: Current,
        username: LoginField = "",
        password: Annotated[str, Form(max_length=1024), CLEAN] = "",
        csrf: Token = "",
        next: Annotated[str, Form(max_length=2000), CLEAN] = "",
    ) -> Response:
        if not csrf_valid(who, csrf):
            return refused(request, who)
        address = address_of(request)
        wait = 0
        try:
            token = await anyio.to_thread.run_sync(
                functools.partial(
                    container.accounts.sign_in, username, password, CONSOLE, address=address
                )
            )
        except LoginThrottled as exc:
            token, wait = None, exc.retry_after
        response: Response
        if token is None:
            again = new_login_csrf()
            response = render(
                request,
                Visitor(None, who.language, again),
                "login.html",
                status=429 if wait else 401,
                failed=not wait,
                wait=wait,
                username=username,
                next=_local(next),
            )
            if wait:
                response.headers["Retry-After"] = str(wait)
            set_cookie(request, response, LOGIN_CSRF_COOKIE, again)
            return response
        response = back(_local(next) or "/")
        set_cookie(request, response, SESSION_COOKIE, token)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @router.post("/logout")
    def logout(request: Request, who: Current, csrf: Token = "") -> Response:
        if who.principal is not None:
            if not csrf_valid(who, csrf):
                return refused(request, who)
            container.accounts.close_session(request.cookies.get(SESSION_COOKIE, ""), CONSOLE)
        response = back("/")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/language/{code}")
    def language(
        request: Request,
        code: Annotated[str, PathParam(max_length=16), CLEAN],
        next: Target = "/",
    ) -> Response:
        response = back(_local(next) or "/")
        if code in i18n.LANGUAGES:
            response.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
        return response

    # ---- the agent board --------------------------------------------------------------------

    @router.get("/board")
    def board(request: Request, who: Current, group: Short = "", search: Short = "") -> Response:
        admin(who)
        agents = container.views.agents(group=group or None, search=search.strip())
        counts = {
            "acd": {s.value: sum(a.acd_status == s for a in agents) for s in words.ACD_STATUS},
            "phone": {
                s.value: sum(a.phone_status == s for a in agents) for s in words.PHONE_STATUS
            },
        }
        labels = {
            **{s.value: who.gettext(words.ACD_STATUS[s]) for s in AcdStatus},
            **{s.value: who.gettext(words.PHONE_STATUS[s]) for s in PhoneStatus},
        }
        return render(
            request,
            who,
            "board.html",
            agents=agents,
            counts=counts,
            groups=container.views.groups(),
            group=group,
            search=search,
            labels=json.dumps(labels),
        )

    async def stream(
        request: Request, who: Visitor, only: str | None = None
    ) -> AsyncIterator[dict[str, str]]:
        token = request.cookies.get(SESSION_COOKIE, "")
        checked = anyio.current_time()
        async with feed.subscription() as queue:
            yield {"event": "ready", "data": "{}"}
            while True:
                try:
                    change = await asyncio.wait_for(queue.get(), timeout=5)
                except TimeoutError:
                    change = Change()
                if change.reload:
                    yield {"event": "reload", "data": "{}"}
                    return
                agents = [a for a in change.agents if only in (None, a.login)]
                gone = [login for login in change.gone if only in (None, login)]
                if agents or gone:
                    payload = {
                        "agents": [agent_json(a, who.gettext) for a in agents],
                        "gone": gone,
                    }
                    yield {"event": "agents", "data": json.dumps(payload)}
                if anyio.current_time() - checked > 10:  # rights are read again now and then
                    checked = anyio.current_time()
                    again = await anyio.to_thread.run_sync(
                        container.accounts.principal_for, token, CONSOLE
                    )
                    if again is None or (only is None and not again.admin):
                        yield {"event": "reload", "data": "{}"}
                        return

    @router.get("/board/stream")
    def board_stream(request: Request, who: Current) -> Response:
        admin(who)
        return EventSourceResponse(stream(request, who), ping=15)

    # ---- users ------------------------------------------------------------------------------

    @router.get("/users")
    def users(
        request: Request,
        who: Current,
        search: Short = "",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        admin(who)
        listing = container.views.users(
            search=search.strip(), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        pages = max(1, -(-listing.total // PAGE_SIZE))
        return render(
            request, who, "users.html", listing=listing, search=search, page=page, pages=pages
        )

    @router.get("/users/{login:path}")
    def user(
        request: Request,
        who: Current,
        login: Annotated[str, PathParam(max_length=MAX_LOGIN), CLEAN],
        done: Short = "",
        error: Short = "",
    ) -> Response:
        admin(who)
        found = container.views.user(login)
        if found is None:
            return render(request, who, "error.html", status=404, kind="no-user", login=login)
        history = container.views.event_log(LogFilter(login=login, types=STATUS_TYPES), limit=50)
        return render(
            request,
            who,
            "user.html",
            user=found,
            history=history,
            acd_statuses=list(words.ACD_STATUS),
            done=done,
            error=error,
        )

    @router.post("/acd-status")
    def set_acd(
        request: Request,
        who: Current,
        login: LoginField,
        status: Annotated[AcdStatus, Form()],
        csrf: Token = "",
    ) -> Response:
        signed_in(who)
        if not csrf_valid(who, csrf):
            return refused(request, who)
        own = login == who.username
        if not own:
            admin(who)
        elif not who.agent:
            raise Denied("sysadmin is not an agent")
        if not container.admin.set_acd_status(
            login, status, actor=who.username, source=Source.CONSOLE
        ):
            return render(request, who, "error.html", status=404, kind="no-user", login=login)
        return back("/me" if own else f"/users/{quote(login, safe='')}?done=acd")

    @router.post("/password-reset")
    def reset_password(
        request: Request,
        who: Current,
        login: LoginField,
        password: PasswordField,
        csrf: Token = "",
    ) -> Response:
        admin(who)
        if not csrf_valid(who, csrf):
            return refused(request, who)
        target = f"/users/{quote(login, safe='')}"
        if len(password) < 8:
            return back(f"{target}?error=password")
        if not container.accounts.set_user_password(login, password):
            return render(request, who, "error.html", status=404, kind="no-user", login=login)
        return back(f"{target}?done=password")

    # ---- the event log ----------------------------------------------------------------------

    @router.get("/events")
    def events(
        request: Request,
        who: Current,
        login: LoginQuery = "",
        type: Short = "",
        outcome: Short = "",
        since: Short = "",
        until: Short = "",
        before: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
    ) -> Response:
        admin(who)
        start, end = _moment(since), _moment(until)
        where = LogFilter(
            login=login.strip() or None,
            type=type if type in LOG_TYPES else None,
            outcome=outcome if outcome in list(Outcome) else None,
            since=start,
            until=end,
        )
        entries = container.views.event_log(where, limit=PAGE_SIZE + 1, before_id=before)
        older = entries[PAGE_SIZE].id + 1 if len(entries) > PAGE_SIZE else None
        entries = entries[:PAGE_SIZE]
        query = {k: v for k, v in request.query_params.items() if k != "before"}
        older_url = f"/events?{urlencode({**query, 'before': older})}" if older else None
        return render(
            request,
            who,
            "events.html",
            entries=entries,
            filters={
                "login": login,
                "type": type,
                "outcome": outcome,
                "since": since,
                "until": until,
            },
            types=LOG_TYPES,
            outcomes=list(Outcome),
            older_url=older_url,
            bad_time=(since and start is None) or (until and end is None),
        )

    # ---- system parameters ------------------------------------------------------------------

    def parameters_page(
        request: Request, who: Current, status: int = 200, **context: Any
    ) -> HTMLResponse:
        current = {p.name: p.value for p in container.admin.list_parameters()}
        return render(
            request,
            who,
            "parameters.html",
            status=status,
            specs=SPECS,
            current=current,
            flag=ParameterKind.FLAG,
            changes=container.views.parameter_changes(50),
            **context,
        )

    @router.get("/parameters")
    def parameters(request: Request, who: Current, changed: Short = "") -> Response:
        admin(who)
        return parameters_page(request, who, changed=changed)

    @router.post("/parameters")
    def set_parameter(
        request: Request,
        who: Current,
        name: ShortField,
        value: ShortField,
        csrf: Token = "",
    ) -> Response:
        admin(who)
        if not csrf_valid(who, csrf):
            return refused(request, who)
        try:
            spec = spec_for(name)
        except InvalidParameter:
            return parameters_page(request, who, status=404)
        try:
            container.admin.set_parameter(
                spec.name, value, actor=who.username, source=Source.CONSOLE
            )
        except InvalidParameter:
            error = words.parameter_error(spec.kind, spec.name, value, who.gettext)
            return parameters_page(
                request, who, status=422, error=error, failed=spec.name, attempted=value
            )
        return back(f"/parameters?changed={quote(spec.short_name)}")

    # ---- import -----------------------------------------------------------------------------

    def import_page(
        request: Request, who: Visitor, status: int = 200, **context: Any
    ) -> HTMLResponse:
        return render(
            request,
            who,
            "import.html",
            status=status,
            configured=container.pbx is not None,
            job=job,
            runs=container.views.imports(20),
            **context,
        )

    @router.get("/import")
    def import_(request: Request, who: Current) -> Response:
        admin(who)
        return import_page(request, who)

    @router.post("/import/dry-run")
    async def dry_run(request: Request, who: Current, csrf: Token = "") -> Response:
        admin(who)
        if not csrf_valid(who, csrf):
            return refused(request, who)
        if container.pbx is None:
            return import_page(request, who, status=409)
        fetch = container.pbx
        try:
            report = await anyio.to_thread.run_sync(
                lambda: container.importer.run(fetch, dry_run=True, trigger="console")
            )
        except (ImportBusy, ImportRefused, PbxError) as exc:
            return import_page(request, who, status=409, error=str(exc))
        groups_ignored = report.ignored.get(IGNORE_GROUP_UPDATE, 0)
        return import_page(
            request,
            who,
            report=report,
            ignored={
                "users": sum(report.ignored.values()) - groups_ignored,
                "groups": groups_ignored,
            },
        )

    @router.post("/import/apply")
    def apply_import(request: Request, who: Current, csrf: Token = "") -> Response:
        admin(who)
        if not csrf_valid(who, csrf):
            return refused(request, who)
        if container.pbx is None:
            return import_page(request, who, status=409)
        if not job.start(container.importer, container.pbx, actor=who.username):
            return import_page(request, who, status=409, error=who.gettext("An import is running."))
        return back("/import")

    async def progress() -> AsyncIterator[dict[str, str]]:
        while True:
            state = {
                "phase": job.phase,
                "done": job.done,
                "total": job.total,
                "running": job.running,
            }
            yield {"event": "progress", "data": json.dumps(state)}
            if not job.running:
                return
            await anyio.sleep(0.25)

    @router.get("/import/stream")
    def import_stream(who: Current) -> Response:
        admin(who)
        return EventSourceResponse(progress(), ping=15)

    # ---- the agent's own page ---------------------------------------------------------------

    @router.get("/me")
    def me(request: Request, who: Current, done: Short = "", error: Short = "") -> Response:
        signed_in(who)
        if not who.agent:
            return back("/board")
        found = container.views.user(who.username)
        if found is None:
            return render(
                request, who, "error.html", status=404, kind="no-user", login=who.username
            )
        return render(
            request,
            who,
            "me.html",
            user=found,
            acd_statuses=list(words.ACD_STATUS),
            done=done,
            error=error,
            initial=container.accounts.initial_password(who.username),
        )

    @router.get("/me/stream")
    def me_stream(request: Request, who: Current) -> Response:
        signed_in(who)
        return EventSourceResponse(stream(request, who, only=who.username), ping=15)

    @router.post("/me/password")
    def change_password(
        request: Request,
        who: Current,
        old: PasswordField = "",
        new: PasswordField = "",
        repeat: PasswordField = "",
        csrf: Token = "",
    ) -> Response:
        signed_in(who)
        if not csrf_valid(who, csrf):
            return refused(request, who)
        if not who.agent:
            return back("/board")
        if len(new) < 8 or new != repeat:
            return back("/me?error=" + ("short" if len(new) < 8 else "repeat"))
        try:
            changed = container.accounts.change_own_password(
                who.username, old, new, address=address_of(request), channel=Source.CONSOLE
            )
        except LoginThrottled:
            return back("/me?error=throttled")
        if not changed:
            return back("/me?error=old")
        # the change ended every session of this user; this one goes on under a new one
        token = container.accounts.sign_in(who.username, new, CONSOLE)
        response = back("/me?done=password")
        if token is not None:
            set_cookie(request, response, SESSION_COOKIE, token)
        return response

    return router


def _local(target: str) -> str:
    """A redirect target only if it is a path on this site (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def _moment(text: str) -> datetime | None:
    """A time from a datetime-local field (taken as UTC), or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
