"""Retention: only recordings (and copies) older than the limit go, and nothing outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ctihub.cli import main
from recordings.retention import RetentionOffError, purge
from recordings.settings import RecordingsConfig
from tests.recordings.conftest import INBOUND, OUTBOUND

NOW = 1_795_392_474.0  # 2026-11-23 00:07:54 UTC, when the fixture calls were made
DAY = 86_400


def age(path: Path, days: float) -> None:
    os.utime(path, (NOW - days * DAY, NOW - days * DAY))


@pytest.fixture
def spool(monitor: Path, tmp_path: Path) -> dict[str, Path]:
    """A spool with recordings 100, 40 and 1 day old, a copy in the cache, and bystanders."""
    old_day = monitor / "2026" / "08" / "15"
    old_day.mkdir(parents=True)
    ancient = old_day / "in-2188000000-02122334455-20260815-101010-1787000000.3.wav"
    ancient.write_bytes(b"RIFF" + bytes(100))
    age(ancient, 100)
    month = monitor / "2026" / "10" / "14"
    month.mkdir(parents=True)
    wav49 = month / "q-support-02122334455-20261014-090000-1792000000.7.WAV"
    wav49.write_bytes(b"RIFF" + bytes(60))
    age(wav49, 40)
    notes = month / "README.txt"  # not a recording: never touched, whatever its age
    notes.write_text("keep")
    age(notes, 400)
    recent = monitor / "2026" / "11" / "23" / INBOUND
    age(recent, 1)
    age(monitor / "2026" / "11" / "23" / OUTBOUND, 29)
    today = monitor / "2026" / "11" / "28"
    today.mkdir(parents=True)  # empty, about to get a recording: must stay
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"RIFF")
    age(outside, 500)
    link = month / "link-out.wav"
    os.symlink(outside, link)
    cache = tmp_path / "cache" / "ab"
    cache.mkdir(parents=True)
    old_copy, new_copy = cache / "cdef.mp3", cache / "0123.ogg"
    old_copy.write_bytes(b"ID3")
    new_copy.write_bytes(b"OggS")
    age(old_copy, 45)
    age(new_copy, 2)
    return {
        "ancient": ancient,
        "wav49": wav49,
        "notes": notes,
        "recent": recent,
        "today": today,
        "outside": outside,
        "link": link,
        "old_copy": old_copy,
        "new_copy": new_copy,
    }


def config(monitor: Path, tmp_path: Path, days: int = 30) -> RecordingsConfig:
    return RecordingsConfig(
        roots=[str(monitor)], cache_dir=str(tmp_path / "cache"), retention_days=days
    )


def test_purge_deletes_only_recordings_older_than_the_retention(
    monitor: Path, tmp_path: Path, spool: dict[str, Path]
) -> None:
    report = purge(config(monitor, tmp_path), now=NOW)

    assert sorted(report.files) == sorted([spool["ancient"], spool["wav49"], spool["old_copy"]])
    assert report.bytes == 104 + 64 + 3
    assert report.errors == []
    for gone in ("ancient", "wav49", "old_copy"):
        assert not spool[gone].exists()
    for kept in ("notes", "recent", "new_copy", "outside"):
        assert spool[kept].exists()
    assert (monitor / "2026" / "11" / "23" / OUTBOUND).exists()  # 29 days old
    assert spool["link"].is_symlink(), "a symlink is never followed nor deleted"
    assert not (monitor / "2026" / "08").exists(), "directories it emptied are removed"
    assert spool["today"].is_dir(), "an empty directory it did not empty stays"


def test_dry_run_lists_the_same_files_and_deletes_nothing(
    monitor: Path, tmp_path: Path, spool: dict[str, Path]
) -> None:
    report = purge(config(monitor, tmp_path), dry_run=True, now=NOW)
    assert sorted(report.files) == sorted([spool["ancient"], spool["wav49"], spool["old_copy"]])
    assert all(path.exists() for path in report.files)


def test_purge_refuses_when_retention_is_off(monitor: Path, tmp_path: Path) -> None:
    with pytest.raises(RetentionOffError, match="retention_days = 0"):
        purge(config(monitor, tmp_path, days=0), now=NOW)


def test_cli_purge_dry_run_prints_what_would_go(
    monitor: Path, tmp_path: Path, spool: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI uses the real clock, later than NOW: the 100-day-old file is older still.
    settings = tmp_path / "ctihub.toml"
    settings.write_text(
        f'[recordings]\nroots = ["{monitor}"]\ncache_dir = "{tmp_path / "cache"}"\n'
        "retention_days = 30\n"
    )
    assert main(["-c", str(settings), "recordings", "purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert str(spool["ancient"]) in out
    assert "would be deleted" in out
    assert spool["ancient"].exists()


def test_cli_purge_says_retention_is_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "ctihub.toml"
    settings.write_text(f'[recordings]\nroots = ["{tmp_path}"]\n')
    assert main(["-c", str(settings), "recordings", "purge"]) == 2
    assert "retention_days = 0" in capsys.readouterr().err
