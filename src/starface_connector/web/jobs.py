"""An import started from the console runs in a thread of its own; the page follows it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..service.errors import ServiceError
from ..service.importer import Importer, ImportReport, PbxReader


@dataclass
class ImportJob:
    """The console's one import of this process: what it is doing and how it ended."""

    phase: str = ""
    done: int = 0
    total: int = 0
    running: bool = False
    report: ImportReport | None = None
    error: str | None = None
    started_by: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, importer: Importer, fetch: PbxReader, *, actor: str) -> bool:
        """Start a (real) import in the background; False if this process runs one already."""
        with self._lock:
            if self.running:
                return False
            self.phase, self.done, self.total = "fetch", 0, 1
            self.running, self.report, self.error, self.started_by = True, None, None, actor
        threading.Thread(
            target=self._run, args=(importer, fetch), name="console-import", daemon=True
        ).start()
        return True

    def _run(self, importer: Importer, fetch: PbxReader) -> None:
        try:
            self.report = importer.run(fetch, trigger="console", progress=self._progress)
        except ServiceError as exc:
            self.error = str(exc)
        except Exception as exc:  # reported on the page; the thread must not die silently
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.running = False

    def _progress(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total = phase, done, total
