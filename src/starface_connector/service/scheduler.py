"""Periodic reconciliation: an import at start, then every N minutes, in a background thread."""

from __future__ import annotations

import logging
import threading

from .errors import ImportBusy, ServiceError
from .importer import Importer, PbxReader

log = logging.getLogger("starface_connector.import")


class ImportScheduler:
    def __init__(
        self,
        importer: Importer,
        fetch: PbxReader,
        interval_seconds: float,
        *,
        run_at_start: bool = True,
    ) -> None:
        self.run_at_start = run_at_start
        self.importer = importer
        self.fetch = fetch
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="import-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the loop at once (it waits on an event, not a sleep); an import in progress
        finishes first."""
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

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

    def _loop(self) -> None:
        if not self.run_at_start:
            self._stop.wait(self.interval)
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)
