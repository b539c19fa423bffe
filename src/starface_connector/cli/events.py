"""``events tail``: the event log, as it grows."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ..domain.text import MAX_LOGIN
from ..storage.views import LogEntryView, LogFilter, iso
from .common import DatabaseUrl, checked_text, open_connector, say, settings

events_app = typer.Typer(help="The event log of received events.", no_args_is_help=True)


@events_app.command("tail")
def events_tail(
    lines: Annotated[int, typer.Option("-n", "--lines", min=1, max=10000)] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    login: str | None = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The newest event log entries; --follow keeps printing new ones."""
    login = checked_text("--login", login, MAX_LOGIN)
    container = open_connector(settings(database_url=database_url))
    where = LogFilter(login=login)
    try:
        newest = list(reversed(container.views.event_log(where, limit=lines)))
        for entry in newest:
            _print(entry)
        last = newest[-1].id if newest else 0
        while follow:
            time.sleep(1)
            for entry in container.views.event_log(where, after_id=last, limit=1000):
                _print(entry)
                last = entry.id
    finally:
        container.close()


def _print(entry: LogEntryView) -> None:
    say(
        f"{iso(entry.received_at)}  {entry.source:8} {entry.type or '-':14} "
        f"{entry.login or entry.group_id or '-':10} {entry.outcome:9} {entry.reason}"
    )
