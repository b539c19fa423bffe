"""The ``starface-connector`` command."""

from __future__ import annotations

import errno
import logging
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ..config import Settings
from ..domain.parameters import InvalidParameter, spec_for
from ..domain.pbx import PbxSnapshot
from ..service.accounts import GeneratedCredential, ensure_credentials
from ..service.admin import list_parameters, set_parameter
from ..service.importer import ImportBusy, Importer, ImportReport
from ..service.scheduler import ImportScheduler
from ..service.security import random_password
from ..starface.client import StarfaceClient
from ..starface.errors import StarfaceError
from ..storage import queries
from ..storage.db import DatabaseError, describe, make_engine, session_factory, upgrade

app = typer.Typer(
    help="Joins a STARFACE PBX to a jtel ACD: users, agent login status and telephone status.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
params_app = typer.Typer(help="Read and set the six system parameters.", no_args_is_help=True)
users_app = typer.Typer(help="jtel users.", no_args_is_help=True)
events_app = typer.Typer(help="The audit log of received events.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(params_app, name="params")
app.add_typer(users_app, name="users")
app.add_typer(events_app, name="events")
app.add_typer(db_app, name="db")

# Piped output (scripts, logs) is not cut to 80 columns: tables keep whole names and values.
console = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 240)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="STARFACE_CONNECTOR_DATABASE_URL",
        help="SQLAlchemy URL; default: an SQLite file in the data folder.",
        show_envvar=True,
    ),
]


class UserError(Exception):
    """A mistake of the person at the keyboard: one line, exit 1, no traceback."""


def print_error(message: str) -> None:
    """The one line a user mistake gets on stderr."""
    err.print(f"error: {message}", style="red", highlight=False, markup=False, soft_wrap=True)


def open_database(database_url: str | None) -> Any:
    settings = Settings()
    url = database_url or settings.resolved_database_url()
    engine = make_engine(url)
    upgrade(engine)
    return engine


def print_credentials(generated: list[GeneratedCredential]) -> None:
    """Shown once, at first start; kept only as argon2 hashes afterwards."""
    if not generated:
        return
    console.print("[bold]Generated credentials[/] (store them now: shown only this once)")
    for cred in generated:
        who = "STARFACE module account" if cred.role == "module" else "jtel sysadmin"
        console.print(
            f"  {who}: login [bold]{cred.login}[/]  password [bold]{cred.password}[/]",
            soft_wrap=True,
            highlight=False,
        )


def check_port_free(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UserError(f"cannot listen on {host}:{port}: unknown host") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is already in use") from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


StarfaceUrl = Annotated[
    str | None,
    typer.Option(
        "--starface-url",
        envvar="STARFACE_CONNECTOR_STARFACE_URL",
        help="STARFACE PBX address, e.g. https://pbx.example.com (the REST API is at /rest).",
        show_envvar=True,
    ),
]
StarfaceLogin = Annotated[
    str | None,
    typer.Option("--starface-login", envvar="STARFACE_CONNECTOR_STARFACE_LOGIN", show_envvar=True),
]
StarfacePassword = Annotated[
    str | None,
    typer.Option(
        "--starface-password",
        envvar="STARFACE_CONNECTOR_STARFACE_PASSWORD",
        show_envvar=True,
        show_default=False,
    ),
]
CaBundle = Annotated[
    str | None,
    typer.Option(
        "--starface-ca-bundle",
        envvar="STARFACE_CONNECTOR_STARFACE_CA_BUNDLE",
        help="CA bundle to verify the PBX's TLS certificate.",
        show_envvar=True,
    ),
]
Insecure = Annotated[
    bool,
    typer.Option(
        "--starface-insecure", help="Do not verify the PBX's TLS certificate (labs only)."
    ),
]


def pbx_fetcher(
    url: str | None,
    login: str | None,
    password: str | None,
    ca_bundle: str | None = None,
    insecure: bool = False,
) -> Callable[[], PbxSnapshot] | None:
    """A function that reads the PBX snapshot, or None when no PBX is configured."""
    if not url:
        return None
    if not login or password is None:
        raise UserError("--starface-url needs --starface-login and --starface-password too")
    if not re.match(r"^https?://[^/\s]+", url):
        raise UserError(f"--starface-url must be an http:// or https:// address, not {url!r}")
    verify: bool | str = False if insecure else (ca_bundle or True)
    if isinstance(verify, str) and not Path(verify).is_file():
        raise UserError(f"CA bundle {verify} does not exist")

    def fetch() -> PbxSnapshot:
        with StarfaceClient(url, login, password, verify=verify) as client:
            return client.fetch_snapshot()

    return fetch


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="STARFACE_CONNECTOR_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="STARFACE_CONNECTOR_PORT", min=1, max=65535)] = 8080,
    database_url: DatabaseUrl = None,
    starface_url: StarfaceUrl = None,
    starface_login: StarfaceLogin = None,
    starface_password: StarfacePassword = None,
    starface_ca_bundle: CaBundle = None,
    starface_insecure: Insecure = False,
    import_interval: Annotated[
        float,
        typer.Option(
            "--import-interval",
            envvar="STARFACE_CONNECTOR_IMPORT_INTERVAL_MINUTES",
            min=0.1,
            help="Minutes between reconciliation imports (with --starface-url).",
        ),
    ] = 15.0,
) -> None:
    """Run the connector: the STARFACE-facing API and the jtel API."""
    import uvicorn

    from ..api.app import create_app

    settings = Settings()
    fetch = pbx_fetcher(
        starface_url, starface_login, starface_password, starface_ca_bundle, starface_insecure
    )
    check_port_free(host, port)
    engine = open_database(database_url)
    factory = session_factory(engine)
    generated = ensure_credentials(
        factory,
        module_login=settings.module_login,
        module_password=settings.module_password,
        admin_password=settings.admin_password,
    )
    print_credentials(generated)
    console.print(
        f"Starface Connector on [bold]http://{host}:{port}[/]  "
        f"(API docs /docs, database {describe(engine.url)})",
        highlight=False,
    )
    importer = Importer(factory)
    application = create_app(
        engine, max_body_bytes=settings.max_body_bytes, pbx_fetch=fetch, importer=importer
    )
    scheduler = None
    if fetch is not None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
        console.print(f"Importing from {starface_url} now and every {import_interval:g} min")
        scheduler = ImportScheduler(importer, fetch, import_interval * 60)
        scheduler.start()
    try:
        uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)
    finally:
        if scheduler is not None:
            scheduler.stop()


@app.command("import")
def import_users(
    starface_url: StarfaceUrl = None,
    starface_login: StarfaceLogin = None,
    starface_password: StarfacePassword = None,
    starface_ca_bundle: CaBundle = None,
    starface_insecure: Insecure = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the difference; change nothing.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Import users, groups and admin flags from STARFACE, under the six parameters."""
    fetch = pbx_fetcher(
        starface_url, starface_login, starface_password, starface_ca_bundle, starface_insecure
    )
    if fetch is None:
        raise UserError(
            "no STARFACE given: use --starface-url (or STARFACE_CONNECTOR_STARFACE_URL)"
        )
    factory = session_factory(open_database(database_url))
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            label = "reading STARFACE" if phase == "fetch" else "applying to jtel"
            if phase not in tasks:
                tasks[phase] = bar.add_task(label, total=max(total, 1))
            bar.update(tasks[phase], completed=done, total=max(total, 1))

        report = Importer(factory).run(fetch, dry_run=dry_run, trigger="cli", progress=progress)
    print_report(report)


def print_report(report: ImportReport) -> None:
    title = "Import (dry run: nothing changed)" if report.dry_run else "Import"
    table = Table("", "users", "groups", title=title)
    table.add_row("created", str(len(report.created)), str(len(report.groups_created)))
    table.add_row("updated", str(len(report.updated)), str(len(report.groups_updated)))
    table.add_row("deleted", str(len(report.deleted)), "")
    table.add_row("unchanged", str(report.unchanged), str(report.groups_unchanged))
    table.add_row("stale (newer live data)", str(len(report.stale)), "")
    console.print(table)
    for reason, count in sorted(report.ignored.items()):
        console.print(f"ignored {count}: {reason}", highlight=False, markup=False)
    if report.dry_run:
        for item in report.details[:200]:
            console.print(
                f"  {item['subject']:>10}  {item['reason']}", highlight=False, markup=False
            )
        if len(report.details) > 200:
            console.print(f"  ... and {len(report.details) - 200} more")
    console.print(f"{report.changes} change(s)")


def default_groups(users: int) -> int:
    return max(1, users // 10 if users <= 1000 else users // 50)


def wait_until(duration: float | None) -> None:
    """Block until Ctrl-C, or for ``duration`` seconds (for scripts and tests)."""
    try:
        if duration is None:
            while True:
                time.sleep(3600)
        time.sleep(duration)
    except KeyboardInterrupt:
        console.print("stopping")


@app.command()
def simulate(
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 8090,
    host: str = "127.0.0.1",
    users: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    groups: Annotated[int | None, typer.Option(min=0, max=10_000)] = None,
    login: Annotated[str, typer.Option(help="The PBX's REST API login.")] = "admin",
    password: Annotated[str, typer.Option(help="The PBX's REST API password.")] = "starface",
    push_to: Annotated[
        str | None, typer.Option(help="Connector URL to push events to, like the module does.")
    ] = None,
    module_login: Annotated[
        str | None, typer.Option(envvar="STARFACE_CONNECTOR_MODULE_LOGIN")
    ] = None,
    module_password: Annotated[
        str | None, typer.Option(envvar="STARFACE_CONNECTOR_MODULE_PASSWORD", show_default=False)
    ] = None,
    rate: Annotated[float, typer.Option(min=0.0, help="Live events per second.")] = 5.0,
    error_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of REST requests answered 5xx.")
    ] = 0.0,
    latency: Annotated[float, typer.Option(min=0.0, help="Seconds added to each request.")] = 0.0,
    seed: int = 42,
    duration: Annotated[float | None, typer.Option(min=0.0, help="Stop after seconds.")] = None,
) -> None:
    """A STARFACE stand-in: the REST API at /rest, and optionally the module's event pusher."""
    from ..serving import run_in_thread
    from ..simulation import SimulatedPbx, create_simulator_app

    if push_to and not (module_login and module_password):
        raise UserError("--push-to needs --module-login and --module-password")
    if port:
        check_port_free(host, port)
    pbx = SimulatedPbx.generate(users, default_groups(users) if groups is None else groups, seed)
    simulator = create_simulator_app(
        pbx, login=login, password=password, error_rate=error_rate, latency=latency, seed=seed
    )
    with run_in_thread(simulator, host=host, port=port) as base:
        console.print(
            f"STARFACE simulator: [bold]{base}/rest[/]  login {login} / password {password}  "
            f"({users} users, {len(pbx.group_ids())} groups)",
            highlight=False,
        )
        pusher = None
        if push_to and module_login and module_password:
            from ..simulation import EventPusher

            pusher = EventPusher(push_to, module_login, module_password, pbx, rate=rate, seed=seed)
            pusher.push_initial()
            pusher.start()
            console.print(f"pushing events to {push_to} at {rate:g}/s")
        try:
            wait_until(duration)
        finally:
            if pusher is not None:
                pusher.stop()
                pusher.close()


@app.command()
def demo(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    users: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    rate: Annotated[float, typer.Option(min=0.0)] = 5.0,
    duration: Annotated[float | None, typer.Option(min=0.0, help="Stop after seconds.")] = None,
) -> None:
    """Everything at once: a fresh connector, a simulated PBX with live traffic, an import."""
    import tempfile

    from ..api.app import create_app
    from ..serving import run_in_thread
    from ..simulation import EventPusher, SimulatedPbx, create_simulator_app

    check_port_free("127.0.0.1", port)
    folder = Path(tempfile.mkdtemp(prefix="starface-connector-demo-"))
    engine = open_database(f"sqlite:///{folder / 'connector.db'}")
    factory = session_factory(engine)
    module_login, module_password = "starface-module", random_password()[:20]
    admin_password = random_password()[:20]
    ensure_credentials(
        factory,
        module_login=module_login,
        module_password=module_password,
        admin_password=admin_password,
    )
    # The standard values ignore login status and groups; the demo follows both so the
    # agents' board moves.
    for name in ("IgnoreUserStatus", "IgnoreGroupUpdate"):
        set_parameter(factory, f"Portal.WebServices.Starface.{name}", "0", actor="demo")
    pbx = SimulatedPbx.generate(users, default_groups(users), seed=7)
    pbx_login, pbx_password = "admin", random_password()[:16]
    simulator = create_simulator_app(pbx, login=pbx_login, password=pbx_password)
    with run_in_thread(simulator) as pbx_url:
        fetch = pbx_fetcher(pbx_url, pbx_login, pbx_password)
        assert fetch is not None
        importer = Importer(factory)
        report = importer.run(fetch, trigger="demo")
        print_report(report)
        app_ = create_app(engine, pbx_fetch=fetch, importer=importer)
        # The first import ran above; reconcile every 15 minutes from now on.
        scheduler = ImportScheduler(importer, fetch, 15 * 60, run_at_start=False)
        scheduler.start()
        with run_in_thread(app_, port=port) as url:
            pusher = EventPusher(url, module_login, module_password, pbx, rate=rate, seed=7)
            pusher.start()
            first = pbx.snapshot().users[0].login
            console.print(
                "\n[bold]Starface Connector demo is running[/]\n"
                f"  connector API     {url}   (interactive docs: {url}/docs)\n"
                f"  jtel sysadmin     login sysadmin  password {admin_password}\n"
                f"  STARFACE module   login {module_login}  password {module_password}\n"
                f"  an agent          login {first}  password {first} (UserPasswordSetUID=1)\n"
                f"  STARFACE (sim.)   {pbx_url}/rest  login {pbx_login}  password {pbx_password}\n"
                f"  database          {folder / 'connector.db'}\n"
                f"  live traffic      {rate:g} events/s from {users} simulated users\n\n"
                "Try:\n"
                f"  TOKEN=$(curl -s -X POST {url}/api/v1/auth/login -H 'content-type: "
                f'application/json\' -d \'{{"username":"sysadmin","password":'
                f"\"{admin_password}\"}}' | python3 -c 'import sys,json;"
                'print(json.load(sys.stdin)["token"])\')\n'
                f'  curl -s {url}/api/v1/users?limit=5 -H "Authorization: Bearer $TOKEN"\n'
                f'  curl -s "{url}/api/v1/events?limit=5" -H "Authorization: Bearer $TOKEN"\n'
                "Ctrl-C stops the demo.",
                highlight=False,
                soft_wrap=True,
            )
            try:
                wait_until(duration)
            finally:
                pusher.stop()
                pusher.close()
                scheduler.stop()
    engine.dispose()


@params_app.command("list")
def params_list(database_url: DatabaseUrl = None) -> None:
    """All six parameters with value and standard value."""
    factory = session_factory(open_database(database_url))
    table = Table("name", "value", "default", "description")
    for p in list_parameters(factory):
        table.add_row(p.name, p.value, p.default, p.description)
    console.print(table)


@params_app.command("get")
def params_get(name: str, database_url: DatabaseUrl = None) -> None:
    """Print one parameter's value."""
    spec_for(name)
    factory = session_factory(open_database(database_url))
    value = {p.name: p.value for p in list_parameters(factory)}[name]
    typer.echo(value)


@params_app.command("set")
def params_set(name: str, value: str, database_url: DatabaseUrl = None) -> None:
    """Set a parameter (audited with actor 'cli'); applies to the next event."""
    spec_for(name).validate(value)
    factory = session_factory(open_database(database_url))
    old, new = set_parameter(factory, name, value, actor="cli")
    typer.echo(f"{name}: {old} -> {new}")


@users_app.command("list")
def users_list(
    search: str = "",
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 100,
    database_url: DatabaseUrl = None,
) -> None:
    """jtel users with ACD and telephone status."""
    factory = session_factory(open_database(database_url))
    with factory() as session:
        page = queries.list_users(session, search=search, limit=limit, offset=0)
    table = Table("UsersUID", "name", "email", "admin", "ACD status", "phone", "groups")
    for u in page["items"]:
        table.add_row(
            u["usersUid"],
            f"{u['firstName']} {u['lastName']}",
            u["email"],
            "yes" if u["admin"] else "",
            u["acdStatus"],
            u["phoneStatus"],
            ", ".join(u["groups"]),
        )
    console.print(table)
    console.print(f"{len(page['items'])} of {page['total']} user(s)")


@events_app.command("tail")
def events_tail(
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=10000)] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    login: str | None = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The newest audit entries; --follow keeps printing new ones."""
    factory = session_factory(open_database(database_url))
    with factory() as session:
        newest = list(reversed(queries.list_events(session, login=login, limit=lines)))
    for item in newest:
        _print_event(item)
    last = newest[-1]["id"] if newest else 0
    while follow:
        time.sleep(1)
        with factory() as session:
            fresh = queries.list_events(session, login=login, after_id=last, limit=1000)
        for item in fresh:
            _print_event(item)
            last = item["id"]


def _print_event(item: dict[str, Any]) -> None:
    console.print(
        f"{item['receivedAt']}  {item['source']:8} {item['type'] or '-':14} "
        f"{item['login'] or item['groupId'] or '-':10} {item['outcome']:9} {item['reason']}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply the database migrations (serve does this at start too)."""
    engine = open_database(database_url)
    typer.echo(f"database {describe(engine.url)} is up to date")


def run() -> None:
    """Entry point: user mistakes become one line on stderr and exit status 1."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option values, unknown commands
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if not message:  # no arguments at all: the help was shown, nothing else to say
            sys.exit(getattr(exc, "exit_code", 2))
        print_error(f"{message} (see --help)")
        sys.exit(getattr(exc, "exit_code", 2))
    except ValidationError as exc:  # a bad STARFACE_CONNECTOR_* environment variable
        first = exc.errors(include_url=False)[0]
        name = "STARFACE_CONNECTOR_" + "_".join(str(p) for p in first["loc"]).upper()
        print_error(f"{name}: {first['msg']}")
        sys.exit(1)
    except (DatabaseError, InvalidParameter, UserError, StarfaceError, ImportBusy) as exc:
        print_error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)
