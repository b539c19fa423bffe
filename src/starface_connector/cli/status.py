"""``status``: the first thing an administrator looks at."""

from __future__ import annotations

from datetime import timedelta

from rich.table import Table

from ..domain.parameters import read_parameters
from ..storage.views import iso
from .common import DatabaseUrl, console, open_connector, say, settings


def status(database_url: DatabaseUrl = None) -> None:
    """Database, last import and its outcome, open module sessions, events of the last hour."""
    container = open_connector(settings(database_url=database_url))
    try:
        now = container.clock()
        params = container.admin.list_parameters()
        typed, problems = read_parameters({p.name: p.value for p in params})
        sessions = container.views.open_sessions(
            "module", used_since=now - timedelta(seconds=typed.session_expire_seconds)
        )
        outcomes = container.views.outcome_counts(since=now - timedelta(hours=1))
        runs = container.views.imports(1)
    finally:
        container.close()
    if runs:
        run = runs[0]
        changes = (run.summary or {}).get("changes")
        detail = f", {changes} change(s)" if changes is not None else ""
        dry = " (dry run)" if run.dry_run else ""
        say(f"last import       {iso(run.started_at)} by {run.trigger}{dry}: {run.status}{detail}")
    else:
        say("last import       none yet")
    say(f"module sessions   {sessions} open")
    table = Table("outcome", "events in the last hour")
    for outcome, count in sorted(outcomes.items()):
        table.add_row(outcome, str(count))
    table.add_row("all", str(sum(outcomes.values())))
    console.print(table)
    for problem in problems:
        say(f"warning: {problem}")
