"""Benchmarks: each module with a ``run() -> dict`` measures one thing against a baseline.

``python -m bench`` (``make bench``) runs them all, prints their figures and
merges them into ``bench/results.json``. Every bench owns its own keys there,
so writing merges and never drops another bench's figures.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"


def merge_results(path: Path, figures: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``figures`` to the JSON object in ``path`` (keeping every other key); return it all.

    Benches may run at the same time (several engineers, one machine), so the
    read-merge-write is done under an exclusive lock and lands by atomic rename.
    """
    # The lock is taken on the folder, so no lock file is left lying in the tree.
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        merged = read_results(path)
        merged.update(figures)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    finally:
        os.close(folder)  # closing releases the lock
    return merged


def read_results(path: Path) -> dict[str, Any]:
    """The figures saved so far in ``path``; empty when the file is absent or blank."""
    if not path.exists() or not (text := path.read_text(encoding="utf-8")).strip():
        return {}
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); fix or delete it") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} holds a JSON {type(loaded).__name__}, expected an object")
    return loaded


def format_figure(value: Any) -> str:
    """A figure as a table cell: thousands separators for big numbers, compact dicts."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, Mapping):
        return " ".join(f"{key}={format_figure(item)}" for key, item in value.items()) or "{}"
    return str(value)


def print_figures(figures_by_bench: Mapping[str, Mapping[str, Any]]) -> None:
    """Print one table of every bench's figures; ratios (keys ending ``_ratio``) marked."""
    rows = [
        (bench, key, format_figure(value))
        for bench, figures in figures_by_bench.items()
        for key, value in figures.items()
    ]
    if not rows:
        print("no figures")
        return
    bench_width = max(len("bench"), *(len(row[0]) for row in rows))
    key_width = max(len("figure"), *(len(row[1]) for row in rows))
    print(f"{'bench':<{bench_width}}  {'figure':<{key_width}}  value")
    print(f"{'-' * bench_width}  {'-' * key_width}  -----")
    for bench, key, value in rows:
        marker = "  <- ratio" if key.endswith("_ratio") else ""
        print(f"{bench:<{bench_width}}  {key:<{key_width}}  {value}{marker}")
