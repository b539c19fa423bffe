"""``python -m bench <what>``: the benchmarks (see bench/README.md)."""

from __future__ import annotations

import sys


def main() -> None:
    what, *rest = sys.argv[1:] or ["help"]
    if what == "events":
        from bench.events import main as events

        events(rest)
    elif what == "flood":
        from bench.flood import main as flood

        flood(rest)
    elif what == "memory":
        from bench.memory import main as memory

        memory(rest)
    elif what == "import":
        sys.argv = ["bench.bench_import", *rest]
        from bench.bench_import import main as run_import

        run_import()
    elif what == "board":
        sys.argv = ["bench.bench_board", *rest]
        from bench.bench_board import main as board

        board()
    elif what == "profile":
        from bench.profile import main as profile

        profile(rest)
    else:
        print(
            "usage: python -m bench events|flood|memory|import|board|profile [options]"
            "  (see bench/README.md)"
        )
        sys.exit(0 if what == "help" else 2)


main()
