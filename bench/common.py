"""Helpers shared by the benchmarks: scratch databases, statistics, tables and result files.

Deliberately independent of ``tests/conftest.py``, which imports pytest and turns an
unreachable database into a skip; a benchmark should fail loudly instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from starface_connector.storage.db import parse_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


class ScratchDatabases:
    """Hands out empty databases of one kind: a fresh SQLite file, or a scratch PG/MariaDB.

    ``base_url`` None means SQLite files in a private temporary directory. For PostgreSQL and
    MariaDB, ``base_url`` names a server and a database the account can connect to; each
    scratch database is created beside it and dropped when its ``with`` block ends.
    """

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self.backend = "sqlite" if base_url is None else parse_url(base_url).get_backend_name()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> ScratchDatabases:
        if self.base_url is None or self.backend == "sqlite":
            self._tmp = tempfile.TemporaryDirectory(prefix="sc-bench-")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def describe(self) -> str:
        if self.base_url is None:
            return "sqlite (fresh file per database in a temp dir)"
        return parse_url(self.base_url).render_as_string(hide_password=True)

    @contextmanager
    def fresh(self) -> Iterator[str]:
        """Yield the URL of an empty database; the caller must dispose its engines first."""
        name = f"sc_bench_{secrets.token_hex(6)}"
        if self.backend == "sqlite":
            assert self._tmp is not None, "use ScratchDatabases as a context manager"
            path = Path(self._tmp.name) / f"{name}.db"
            yield f"sqlite:///{path}"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        assert self.base_url is not None
        admin_url = parse_url(self.base_url)
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE {name}"))
            try:
                yield admin_url.set(database=name).render_as_string(hide_password=False)
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        finally:
            admin.dispose()


# ----------------------------------------------------------------- clocks and statistics
@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds and this process's CPU seconds (all threads) for one measurement.

    On a shared, noisy machine the CPU seconds move much less than the wall clock; they do
    not include work done by a separate database server.
    """

    wall: float
    cpu: float


class Clock:
    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def stop(self) -> Timing:
        return Timing(time.perf_counter() - self._wall, time.process_time() - self._cpu)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """Percentile ``q`` (0..100) with linear interpolation, like numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": median(values), "min": min(values), "max": max(values), "n": len(values)}


# ----------------------------------------------------------------- output
def loadavg() -> tuple[float, ...]:
    """1, 5 and 15 minute load averages (a 2-core machine is saturated at 2)."""
    return tuple(round(x, 2) for x in os.getloadavg())


def code_state() -> str:
    """Which code was measured: git HEAD, whether src/ differs from it, and a digest of src/."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = "+dirty" if git("status", "--porcelain", "--", "src") else ""
    return f"{head}{dirty} src-sha256:{digest.hexdigest()[:12]}"


def environment() -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": loadavg(),
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain fixed-width table (first column left-aligned, the others right-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([row[0].ljust(widths[0]), *rest])

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def publish(kind: str, backend: str, data: dict[str, Any]) -> None:
    """The latest run as <kind>.json, and per kind of database as <kind>-<backend>.json."""
    path = write_results(f"{kind}.json", data)
    write_results(f"{kind}-{backend}.json", data)
    print(f"\nresults written to {path} (and {kind}-{backend}.json)")
