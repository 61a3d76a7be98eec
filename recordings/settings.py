"""Settings of call recordings (``[recordings]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordingsConfig(_Section):
    """Call recordings: where the hub finds MixMonitor's files, serves and keeps them
    (``[recordings]``)."""

    path_map: dict[str, str] = {}
    """PBX directory to where the hub sees the same files (an NFS or SMB mount); the longest
    matching prefix wins; paths matching none are read as the PBX names them."""
    roots: list[str] = ["/var/spool/asterisk/monitor"]
    """Directories (as the hub sees them) recordings may be read from and are purged in;
    a name resolving outside every root, through ``..`` or a symlink, is refused."""
    wait_closed_seconds: float = Field(default=30.0, gt=0, le=3600)
    """After a call ends, wait up to this long for its recording to stop growing."""
    settle_seconds: float = Field(default=1.0, gt=0, le=60)
    """A recording whose size has not changed for this long is taken as closed."""
    transcode: Literal["none", "mp3", "opus"] = "none"
    """Serve browsers a smaller copy (ffmpeg needed): ``mp3``, ``opus`` (Ogg) or ``none``."""
    cache_dir: str = "var/cache/recordings"
    """Where transcoded copies are kept."""
    retention_days: int = Field(default=0, ge=0)
    """``ctihub recordings purge`` deletes recordings and copies older than this; 0: keep all."""

    @field_validator("roots")
    @classmethod
    def _absolute_roots(cls, value: list[str]) -> list[str]:
        for root in value:
            if not Path(root).is_absolute():
                raise ValueError(f"{root!r} must be an absolute directory")
        return value

    @field_validator("path_map")
    @classmethod
    def _absolute_prefixes(cls, value: dict[str, str]) -> dict[str, str]:
        for pbx, hub in value.items():
            if not (Path(pbx).is_absolute() and Path(hub).is_absolute()):
                raise ValueError(f"{pbx!r} = {hub!r}: both must be absolute directories")
        return value
