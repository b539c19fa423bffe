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

from ..domain.model import Outcome
from ..service.importer import ImportReport
from ..storage.views import iso
from .common import (
    AdminPermission,
    CaBundle,
    DatabaseUrl,
    Fingerprint,
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
#: Exit status of an import that could not follow everything (records skipped, deletes withheld).
PARTIAL = 3


def import_users(
    starface_url: StarfaceUrl = None,
    starface_login: StarfaceLogin = None,
    starface_password: StarfacePassword = None,
    starface_ca_bundle: CaBundle = None,
    starface_insecure: Insecure = False,
    starface_cert_fingerprint: Fingerprint = None,
    starface_admin_permission: AdminPermission = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the difference; change nothing.")
    ] = False,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete",
            help="Delete even more than STARFACE_CONNECTOR_IMPORT_MAX_DELETE_SHARE of the jtel "
            "users (10 % by default), which the import otherwise refuses.",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Import users, groups and admin flags from STARFACE, under the system parameters.

    Exit status 0: done; 1: failed or refused (nothing changed); 3: partial (some records
    could not be read, or deletions were withheld; the rest was imported).
    """
    chosen = starface_settings(
        starface_url,
        starface_login,
        starface_password,
        starface_ca_bundle,
        starface_insecure,
        starface_cert_fingerprint=starface_cert_fingerprint,
        starface_admin_permission=starface_admin_permission,
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
                container.pbx,
                dry_run=dry_run,
                trigger="cli",
                progress=progress,
                allow_mass_delete=allow_mass_delete,
            )
    finally:
        container.close()
    print_report(report)
    if report.partial:
        raise typer.Exit(PARTIAL)


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
    for group_id in report.groups_gone:
        say(f"group {group_id} was deleted in STARFACE during the import; left as it is")
    for record in report.skipped:
        who = record["id"] if record["login"] is None else f"{record['id']} ({record['login']})"
        say(f"skipped {record['kind']} {who}: {record['reason']}")
    if not report.dry_run:  # a dry run lists every detail below
        for item in report.details:
            if item["outcome"] == Outcome.REJECTED:
                say(f"{item['subject']}: {item['reason']}")
    if report.deletes_withheld:
        say(f"no user deleted: {report.deletes_withheld}")
    if report.refusal and report.dry_run:
        say(f"would be refused without --allow-mass-delete: {report.refusal}")
    if report.dry_run:
        for item in report.details[:200]:
            say(f"  {item['subject']:>10}  {item['reason']}")
        if len(report.details) > 200:
            say(f"  ... and {len(report.details) - 200} more")
    say(
        f"{report.changes} change(s)"
        + ("; partial import (exit status 3)" if report.partial else "")
    )


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
