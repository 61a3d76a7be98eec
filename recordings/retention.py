"""Retention: recordings and transcoded copies older than N days are deleted.

Age is the file's modification time (MixMonitor's last write). Only regular
files with a recording's extension are touched, symlinks are never followed
or deleted, and date directories left empty are removed (MixMonitor makes
them again as needed). ``ctihub recordings purge [--dry-run]`` runs this.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from recordings.locate import KNOWN_SUFFIXES
from recordings.settings import RecordingsConfig

log = logging.getLogger(__name__)

_CACHE_SUFFIXES = frozenset({".mp3", ".ogg"})
_DAY = 86_400.0


class RetentionOffError(ValueError):
    """Purging was asked for with no retention period set."""


@dataclass(slots=True)
class PurgeReport:
    """What a purge deleted (or, in a dry run, would delete)."""

    dry_run: bool
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    errors: list[str] = field(default_factory=list)
    """Files or directories that could not be read or deleted, with the reason."""


def purge(
    config: RecordingsConfig,
    *,
    older_than_days: int | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PurgeReport:
    """Delete recordings under ``roots`` and copies under ``cache_dir`` older than the limit.

    ``older_than_days`` defaults to ``retention_days``; if that is 0, raises
    :class:`RetentionOffError`.
    Blocking (walks directories): run it from a thread on the loop.
    """
    days = config.retention_days if older_than_days is None else older_than_days
    if days <= 0:
        raise RetentionOffError(
            "recordings retention is off ([recordings] retention_days = 0): nothing to purge"
        )
    cutoff = (time.time() if now is None else now) - days * _DAY
    report = PurgeReport(dry_run=dry_run)
    for root in config.roots:
        _purge_tree(Path(root), KNOWN_SUFFIXES, cutoff, report)
    _purge_tree(Path(config.cache_dir), _CACHE_SUFFIXES, cutoff, report)
    log.info(
        "recordings purge files=%d bytes=%d errors=%d dry_run=%s older_than_days=%d",
        len(report.files),
        report.bytes,
        len(report.errors),
        dry_run,
        days,
    )
    return report


def _purge_tree(top: Path, suffixes: frozenset[str], cutoff: float, report: PurgeReport) -> None:
    if not top.is_dir():
        return

    def failed(exc: OSError) -> None:
        report.errors.append(f"{exc.filename}: {exc.strerror or exc}")

    # Bottom-up so that a directory is looked at after its files are gone. Only directories
    # this run emptied are removed: an empty one may be today's, about to get a recording.
    emptied: set[Path] = set()
    for directory, _subdirs, files in os.walk(top, topdown=False, onerror=failed):
        here = Path(directory)
        for name in files:
            path = here / name
            if path.suffix.lower() not in suffixes:
                continue
            try:
                info = path.lstat()
            except OSError as exc:
                failed(exc)
                continue
            if not stat.S_ISREG(info.st_mode) or info.st_mtime >= cutoff:
                continue
            if not report.dry_run:
                try:
                    path.unlink()
                except OSError as exc:
                    failed(exc)
                    continue
            report.files.append(path)
            report.bytes += info.st_size
            emptied.add(here)
        if here != top and here in emptied and not report.dry_run:
            try:
                if not any(here.iterdir()):
                    here.rmdir()
                    emptied.add(here.parent)
            except OSError as exc:
                # Not ours to remove, or written to meanwhile: a directory left is harmless.
                log.debug("recordings directory kept path=%s reason=%s", here, exc)
