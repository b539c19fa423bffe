"""``db upgrade``: database maintenance."""

from __future__ import annotations

import typer

from ..bootstrap import bootstrap
from .common import DatabaseUrl, settings

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply the database migrations (serve does this at start too)."""
    container = bootstrap(settings(database_url=database_url))
    container.close()
    typer.echo(f"database {container.database} is up to date")
