"""``params``: read and set the system parameters."""

from __future__ import annotations

import typer
from rich.table import Table

from ..domain.parameters import spec_for
from ..service.ports import Source
from .common import DatabaseUrl, console, open_connector, settings

params_app = typer.Typer(help="Read and set the system parameters.", no_args_is_help=True)


@params_app.command("list")
def params_list(database_url: DatabaseUrl = None) -> None:
    """All parameters with value and standard value."""
    container = open_connector(settings(database_url=database_url))
    try:
        table = Table("name", "value", "default", "description")
        for p in container.admin.list_parameters():
            table.add_row(p.name, p.value, p.default, p.description)
        console.print(table)
    finally:
        container.close()


@params_app.command("get")
def params_get(name: str, database_url: DatabaseUrl = None) -> None:
    """Print one parameter's value (the jtel name, or its last part: IgnoreUserStatus)."""
    spec = spec_for(name)
    container = open_connector(settings(database_url=database_url), announce=False)
    try:
        (value,) = [p.value for p in container.admin.list_parameters() if p.spec is spec]
    finally:
        container.close()
    typer.echo(value)


@params_app.command("set")
def params_set(name: str, value: str, database_url: DatabaseUrl = None) -> None:
    """Set a parameter (logged with actor 'cli'); applies to the next event."""
    spec = spec_for(name)
    spec.validate(value)
    container = open_connector(settings(database_url=database_url))
    try:
        old, new = container.admin.set_parameter(spec.name, value, actor="cli", source=Source.CLI)
    finally:
        container.close()
    typer.echo(f"{spec.name}: {old} -> {new}")
