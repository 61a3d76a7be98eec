"""A fake PBX monitor spool in tmp_path holding the real MixMonitor recordings of the fixtures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures"
RECORDINGS = FIXTURES / "recordings"
INBOUND = "in-2188000000-982188776655-20261123-000754-1795392474.1.wav"
OUTBOUND = "out-02177665544-1002-20261123-000825-1795392505.16.wav"
PBX_SPOOL = "/var/spool/asterisk/monitor"
"""Where the PBX of the traces wrote them (MIXMONITOR_FILENAME in tests/fixtures/ami)."""


def need_ffmpeg() -> None:
    """Skip without ffmpeg, except under CI, where it must be installed (``.ci/run`` does)."""
    if shutil.which("ffmpeg") is None:
        if os.environ.get("CI"):
            pytest.fail("ffmpeg is required in CI but not installed")
        pytest.skip("ffmpeg not installed")


@pytest.fixture
def monitor(tmp_path: Path) -> Path:
    """The hub's view of the PBX spool (as an NFS mount would be), with both real recordings
    filed under 2026/11/23 as Issabel files them."""
    root = tmp_path / "pbx-monitor"
    day = root / "2026" / "11" / "23"
    day.mkdir(parents=True)
    for name in (INBOUND, OUTBOUND):
        shutil.copyfile(RECORDINGS / name, day / name)
    return root
