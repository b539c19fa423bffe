"""Where the event path spends its CPU: py-spy samples ``serve`` while wrk loads it.

The same server, agents and load as ``python -m bench events`` (one database, one batch size,
one connection count). ``py-spy record --gil`` samples only the thread that holds the GIL, so
a thread that waits for the GIL (the event loop while the writer commits) is not counted as
busy: the shares are shares of the Python CPU time. Printed: the top functions by own samples,
the same by package, and the share of samples each package appears in.

    .venv/bin/python -m bench profile [--database sqlite] [--batch 1] [--connections 8]
        [--duration 20]

py-spy comes with the ``bench`` extra: ``.venv/bin/pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import ScratchDatabases, environment, publish
from bench.events import (
    SERVERS,
    SIMULATED_START,
    Dates,
    create_agents,
    ensure_wrk,
    free_port,
    load,
    open_session,
    prepare,
    running,
    serve_environment,
)

#: a frame as ``py-spy --format raw --nolineno`` writes it: ``function (path)``
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*)\)$")
PACKAGES = (
    "starface_connector",
    "sqlalchemy",
    "starlette",
    "fastapi",
    "uvicorn",
    "pydantic",
    "asyncio",
    "sqlite3",
    "psycopg",
    "pymysql",
    "orjson",
    "concurrent",
    "threading",
)


def short(frame: str) -> str:
    """``function (package/module.py)`` without the site-packages prefix."""
    found = FRAME.match(frame)
    if not found:
        return frame
    path = found["path"]
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{found['function']} ({path})"


def package_of(frame: str) -> str | None:
    """The package a frame's code belongs to; the CLI's frames (at the root of every stack,
    below uvicorn) count for none."""
    found = FRAME.match(frame)
    path = found["path"] if found else frame
    if "starface_connector/cli/" in path:
        return None
    return next((p for p in PACKAGES if f"/{p}/" in path or path.startswith(f"{p}/")), None)


def summarise(raw: str, top: int) -> dict[str, object]:
    own: Counter[str] = Counter()
    own_packages: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        own[short(frames[-1])] += samples
        own_packages[package_of(frames[-1]) or "other"] += samples
        for package in {p for p in map(package_of, frames) if p}:
            packages[package] += samples
    return {
        "samples": total,
        "own": [(name, n / total) for name, n in own.most_common(top)],
        "own_packages": [(name, n / total) for name, n in own_packages.most_common()],
        "packages": [(name, n / total) for name, n in packages.most_common()],
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench profile", description=__doc__)
    parser.add_argument("--database", default="sqlite", choices=sorted(SERVERS))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is missing: .venv/bin/pip install -e '.[bench]'")
    wrk = ensure_wrk()
    command = str(Path(sys.executable).with_name("starface-connector"))
    with ScratchDatabases(SERVERS[args.database]) as dbs, dbs.fresh() as database:
        prepare(database)
        port = free_port()
        env = serve_environment(database)
        serve = [command, "serve", "--port", str(port)]
        with running("connector", serve, env, port) as server, tempfile.TemporaryDirectory() as d:
            session = open_session(server.url)
            create_agents(server.url, session)
            dates = Dates(int(time.time()) - SIMULATED_START)
            out = Path(d) / "profile.txt"
            recorder = subprocess.Popen(
                [
                    py_spy, "record", "--pid", str(server.process.pid), "--gil", "--nolineno",
                    "--format", "raw", "--rate", "200", "--duration", str(round(args.duration)),
                    "--output", str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            figures = load(
                wrk,
                server,
                batch=args.batch,
                connections=args.connections,
                duration=args.duration,
                session=session,
                dates=dates,
            )
            recorder.wait(60)
            result = summarise(out.read_text(), args.top)
    print(
        f"{args.database}, batch {args.batch}, {args.connections} connections: "
        f"{figures['events_per_s']:,.0f} events/s, {figures['cpu_ms_per_request']:.2f} ms CPU "
        f"per request, {result['samples']} samples holding the GIL"
    )
    print("\nown samples (top functions):")
    for name, share in result["own"]:  # type: ignore[attr-defined]
        print(f"  {share:6.1%}  {name}")
    print("\nown samples by package (where the CPU is spent):")
    for name, share in result["own_packages"]:  # type: ignore[attr-defined]
        print(f"  {share:6.1%}  {name}")
    print("\nsamples a package appears in (its code or what it calls):")
    for name, share in result["packages"]:  # type: ignore[attr-defined]
        print(f"  {share:6.1%}  {name}")
    publish(
        "profile",
        args.database,
        {"environment": environment(), "load": figures, "profile": result, "args": vars(args)},
    )
