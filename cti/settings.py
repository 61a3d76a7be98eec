"""The domain's own settings: how the tracker reads a PBX (``[tracker]``), how calls are
counted (``[figures]``).

A plain dataclass, so that ``cti`` needs nothing beyond the standard library;
``ctihub.settings`` validates it like every other section (unknown keys and
bad values are refused with the key named).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from cti.figures import SERVICE_LEVEL_TYPES, QueueTargets, ServiceLevelType


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


@dataclass(frozen=True, slots=True)
class FiguresConfig:
    """How calls are counted (``[figures]``): the default targets every queue starts from.

    Definitions: :mod:`cti.figures` (Cisco Unified CCE). A queue's own
    threshold and target, where the administration sets them, win over these.
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    timezone: str = "UTC"
    """The call center's time zone (IANA name): where "today", days and intervals begin."""
    service_level_seconds: int = 20
    """Answered within this many seconds of queueing: in service level."""
    service_level_target_percent: float = 80.0
    short_abandon_seconds: int = 5
    """Callers hanging up before this are short abandons, counted apart (not offered)."""
    max_wait_seconds: int = 60
    """The live board flags a caller waiting longer than this."""
    service_level_type: str = "abandoned_ignored"
    """How abandoned-in-threshold calls count: abandoned_ignored, abandoned_negative,
    abandoned_positive (as Cisco UCCE's service-level types)."""

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None
        if not 1 <= self.service_level_seconds <= 3600:
            raise ValueError("service_level_seconds: must be between 1 and 3600")
        if not 0 <= self.service_level_target_percent <= 100:
            raise ValueError("service_level_target_percent: must be between 0 and 100")
        if not 0 <= self.short_abandon_seconds <= 60:
            raise ValueError("short_abandon_seconds: must be between 0 and 60")
        if not 1 <= self.max_wait_seconds <= 86_400:
            raise ValueError("max_wait_seconds: must be between 1 and 86400")
        if self.service_level_type not in SERVICE_LEVEL_TYPES:
            raise ValueError(f"service_level_type: must be one of {', '.join(SERVICE_LEVEL_TYPES)}")

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The call center's time zone."""
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def kind(self) -> ServiceLevelType:
        """The service-level type, typed."""
        return cast(ServiceLevelType, self.service_level_type)

    def targets(self) -> QueueTargets:
        """The targets of a queue that has none of its own."""
        return QueueTargets(
            threshold_seconds=self.service_level_seconds,
            target_percent=self.service_level_target_percent,
            short_abandon_seconds=self.short_abandon_seconds,
            max_wait_seconds=self.max_wait_seconds,
        )
