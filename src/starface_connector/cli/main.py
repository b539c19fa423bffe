"""The ``starface-connector`` command."""

from __future__ import annotations

import errno
import socket
import sys
import time
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ..config import Settings
from ..domain.parameters import InvalidParameter, spec_for
from ..service.accounts import GeneratedCredential, ensure_credentials
from ..service.admin import list_parameters, set_parameter
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

console = Console()
err = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="STARFACE_CONNECTOR_DATABASE_URL",
        help="SQLAlchemy URL; default: an SQLite file in the data folder.",
        show_envvar=True,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A mistake of the person at the keyboard: one line, exit 1, no traceback."""


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


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


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="STARFACE_CONNECTOR_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="STARFACE_CONNECTOR_PORT", min=1, max=65535)] = 8080,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the connector: the STARFACE-facing API and the jtel API."""
    import uvicorn

    from ..api.app import create_app

    settings = Settings()
    check_port_free(host, port)
    engine = open_database(database_url)
    generated = ensure_credentials(
        session_factory(engine),
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
    application = create_app(engine, max_body_bytes=settings.max_body_bytes)
    uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)


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
    )


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply the database migrations (serve does this at start too)."""
    engine = open_database(database_url)
    typer.echo(f"database {describe(engine.url)} is up to date")


def run() -> None:
    """Entry point: user mistakes become one line on stderr and exit status 1."""
    try:
        app(standalone_mode=True)
    except (DatabaseError, InvalidParameter, UserError) as exc:
        err.print(f"error: {exc}", style="red", highlight=False, markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
