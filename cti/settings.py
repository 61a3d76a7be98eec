"""The domain's own settings: how the tracker reads a PBX (``[tracker]``).

A plain dataclass, so that ``cti`` needs nothing beyond the standard library;
``ctihub.settings`` validates it like every other section (unknown keys and
bad values are refused with the key named).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """How the call tracker tells agents from outside numbers and what it remembers."""

    # Read by pydantic when this dataclass is a section of the whole configuration.
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    extension_pattern: str = r"^[1-9][0-9]{1,5}$"
    """What an internal extension looks like; anything else is an outside number."""
    extension_map: dict[str, str] = field(default_factory=dict)
    """Interface or device (``PJSIP/1001``, ``Local/1001@from-queue/n``) to agent extension."""
    channel_expiry_seconds: float = 4 * 3600.0
    """A channel not hung up after this long is dropped with a warning."""
    recording_variables: list[str] = field(
        default_factory=lambda: ["MIXMONITOR_FILENAME", "CALLFILENAME", "CDR(recordingfile)"]
    )
    kept_variables: list[str] = field(
        default_factory=lambda: [
            "CTIHUB_CONTRACT",
            "CTIHUB_CASE",
            "CTIHUB_CASE_OWNER",
            "CTIHUB_CUSTOMER",
            "CTIHUB_OWNER",
            "CTIHUB_PRIORITY",
        ]
    )
    """Channel variables remembered on the call and reported at its end."""

    def __post_init__(self) -> None:
        # "key: reason", so that the configuration's error names the key (ctihub.settings).
        try:
            re.compile(self.extension_pattern)
        except re.error as exc:
            raise ValueError(f"extension_pattern: not a valid regular expression: {exc}") from exc
        if not self.channel_expiry_seconds > 0:
            raise ValueError("channel_expiry_seconds: must be greater than 0")
