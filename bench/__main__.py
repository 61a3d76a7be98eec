"""``python -m bench [NAME ...]``: run every bench module (or the named ones), print, save.

A bench module is any module in this package with a ``run() -> dict`` function.
One that cannot be imported (its optional dependency missing, or not written
yet) is reported and skipped; one that fails while running makes the exit
status 1 after the others have run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import bench
from bench import RESULTS_PATH, merge_results, print_figures

log = logging.getLogger("bench")

# Run first when present; the rest follow in name order.
PREFERRED_ORDER = ("tracker_throughput", "crm_lookup", "loadgen")


def discover() -> list[str]:
    """Names of the modules in this package that may be benches, in run order."""
    names = [
        info.name for info in pkgutil.iter_modules(bench.__path__) if not info.name.startswith("_")
    ]
    first = [name for name in PREFERRED_ORDER if name in names]
    return first + sorted(name for name in names if name not in first)


def load_run(name: str) -> Callable[[], dict[str, Any]] | None:
    """The module's ``run`` function, or None (with a reason printed) when there is none."""
    try:
        module = importlib.import_module(f"bench.{name}")
    except ImportError as error:
        print(f"bench {name}: skipped, cannot import: {error}")
        return None
    run = getattr(module, "run", None)
    if not callable(run):
        return None  # a helper module of some bench, not a bench itself
    return run  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benches; return the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="bench modules to run (default: all)")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    available = discover()
    unknown = [name for name in args.names if name not in available]
    if unknown:
        print(f"unknown bench(es): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    figures_by_bench: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for name in args.names or available:
        run = load_run(name)
        if run is None:
            continue
        print(f"bench {name}: running")
        started = time.perf_counter()
        try:
            figures = run()
        except Exception:
            traceback.print_exc()
            print(f"bench {name}: FAILED")
            failed.append(name)
            continue
        print(f"bench {name}: done in {time.perf_counter() - started:.1f} s")
        figures_by_bench[name] = figures
        if not args.no_save:
            merge_results(RESULTS_PATH, figures)
    print()
    print_figures(figures_by_bench)
    if figures_by_bench and not args.no_save:
        print(f"\nwritten to {RESULTS_PATH}")
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
