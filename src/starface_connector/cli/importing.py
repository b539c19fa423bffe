"""``import`` and ``imports list``: bring STARFACE's users into jtel, and the history."""

from __future__ import annotations

from typing import Annotated

import typer
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

from ..service.importer import ImportReport
from ..storage.views import iso
from .common import (
    CaBundle,
    DatabaseUrl,
    Insecure,
    StarfaceLogin,
    StarfacePassword,
    StarfaceUrl,
    UserError,
    console,
    open_connector,
    say,
    settings,
    starface_settings,
)

imports_app = typer.Typer(help="The history of imports from STARFACE.", no_args_is_help=True)


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
    chosen = starface_settings(
        starface_url,
        starface_login,
        starface_password,
        starface_ca_bundle,
        starface_insecure,
        database_url=database_url,
    )
    if not chosen.starface_url:
        raise UserError(
            "no STARFACE given: use --starface-url (or STARFACE_CONNECTOR_STARFACE_URL)"
        )
    container = open_connector(chosen)
    assert container.pbx is not None
    try:
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

            report = container.importer.run(
                container.pbx, dry_run=dry_run, trigger="cli", progress=progress
            )
    finally:
        container.close()
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
    for parameter, count in sorted(report.ignored.items()):
        say(f"ignored {count}: {parameter}=1")
    if report.dry_run:
        for item in report.details[:200]:
            say(f"  {item['subject']:>10}  {item['reason']}")
        if len(report.details) > 200:
            say(f"  ... and {len(report.details) - 200} more")
    say(f"{report.changes} change(s)")


@imports_app.command("list")
def imports_list(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    database_url: DatabaseUrl = None,
) -> None:
    """Past imports, newest first: when, who started them, and what they changed."""
    container = open_connector(settings(database_url=database_url))
    try:
        runs = container.views.imports(limit)
    finally:
        container.close()
    table = Table("id", "started", "trigger", "dry run", "status", "changes", "stale", "rejected")
    for run in runs:
        summary = run.summary or {}
        table.add_row(
            str(run.id),
            iso(run.started_at) or "",
            run.trigger,
            "yes" if run.dry_run else "",
            run.status,
            str(summary.get("changes", "")),
            str(len(summary.get("stale", []))) if summary else "",
            str(len(summary.get("rejected", []))) if summary else "",
        )
    console.print(table)
    say(f"{len(runs)} import(s)")
