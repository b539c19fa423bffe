"""A job run in a background thread at start (or after one interval), then every interval."""

from __future__ import annotations

import threading


class Periodic:
    """The loop the import scheduler and the daily purge share: :meth:`run_once` must never
    raise (a job logs its own failures and is tried again at the next interval)."""

    def __init__(self, name: str, interval_seconds: float, *, run_at_start: bool = True) -> None:
        self.interval = interval_seconds
        self.run_at_start = run_at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the loop at once (it waits on an event, not a sleep); a run in progress
        finishes first."""
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run_once(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        if not self.run_at_start:
            self._stop.wait(self.interval)
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)
