"""Periodic reconciliation: an import at start, then every N minutes, in a background thread."""

from __future__ import annotations

import logging

from .errors import ImportBusy, ServiceError
from .importer import Importer, PbxReader
from .periodic import Periodic

log = logging.getLogger("starface_connector.import")


class ImportScheduler(Periodic):
    def __init__(
        self,
        importer: Importer,
        fetch: PbxReader,
        interval_seconds: float,
        *,
        run_at_start: bool = True,
    ) -> None:
        super().__init__("import-scheduler", interval_seconds, run_at_start=run_at_start)
        self.importer = importer
        self.fetch = fetch

    def run_once(self) -> None:
        """One import; failures are logged as one line and retried at the next interval."""
        try:
            report = self.importer.run(self.fetch, trigger="schedule")
        except ImportBusy as exc:
            log.info("scheduled import skipped: %s", exc)
        except ServiceError as exc:
            log.warning("scheduled import failed: %s", exc)
        except Exception:  # the loop must survive anything; the traceback goes to the log
            log.exception("scheduled import failed")
        else:
            if report.partial:
                log.warning(
                    "scheduled import partial: %d record(s) skipped%s",
                    len(report.skipped),
                    f"; no user deleted: {report.deletes_withheld}"
                    if report.deletes_withheld
                    else "",
                )
            log.info(
                "import: %d created, %d updated, %d deleted, %d unchanged, %d group changes",
                len(report.created),
                len(report.updated),
                len(report.deleted),
                report.unchanged,
                len(report.groups_created) + len(report.groups_updated),
            )
