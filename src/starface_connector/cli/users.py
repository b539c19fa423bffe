"""``users`` and ``groups``: who is in jtel, and in which ACD groups."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from .common import DatabaseUrl, checked_text, console, open_connector, say, settings

users_app = typer.Typer(help="jtel users.", no_args_is_help=True)
groups_app = typer.Typer(help="ACD groups.", no_args_is_help=True)


@users_app.command("list")
def users_list(
    search: str = "",
    limit: Annotated[int, typer.Option(min=1, max=100000)] = 100,
    database_url: DatabaseUrl = None,
) -> None:
    """jtel users with ACD and telephone status."""
    search = checked_text("--search", search, 200) or ""
    container = open_connector(settings(database_url=database_url))
    try:
        page = container.views.users(search=search, limit=limit, offset=0)
    finally:
        container.close()
    table = Table("UsersUID", "name", "email", "admin", "ACD status", "phone", "DND", "groups")
    for u in page.items:
        table.add_row(
            u.users_uid,
            f"{u.first_name} {u.last_name}",
            u.email,
            "yes" if u.admin else "",
            u.acd_status,
            u.phone_status,
            "on" if u.dnd else "",
            ", ".join(u.groups),
        )
    console.print(table)
    say(f"{len(page.items)} of {page.total} user(s)")


@groups_app.command("list")
def groups_list(database_url: DatabaseUrl = None) -> None:
    """ACD groups with their members."""
    container = open_connector(settings(database_url=database_url))
    try:
        groups = container.views.groups()
    finally:
        container.close()
    table = Table("id", "name", "members", "logins")
    for g in groups:
        table.add_row(g.id, g.name, str(len(g.members)), ", ".join(g.members))
    console.print(table)
    say(f"{len(groups)} group(s)")
