"""Settings of the CRM side: the database (``[database]``) and the CRM (``[crm]``, with its
external connector ``[crm.http]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from cti.alerts import AlertRules, ClassRules, QueueRules


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(_Section):
    """Where the CRM data lives (``[database]``)."""

    url: str = "sqlite+aiosqlite:///var/ctihub.sqlite3"
    """SQLAlchemy async URL: ``sqlite+aiosqlite:///PATH`` or ``postgresql+asyncpg://…``."""
    pool_size: int = Field(default=5, ge=1, le=100)
    connect_timeout: float = Field(default=5.0, gt=0)
    statement_timeout: float = Field(default=5.0, gt=0)
    echo: bool = False


class CrmHttpConfig(_Section):
    """The generic HTTP connector to an external CRM (``[crm.http]``)."""

    lookup_url: str = ""
    """URL template with ``{e164}``, ``{national}`` or ``{digits}``; empty: no lookups."""
    results_path: str = ""
    """Dotted path to the list of contacts in the JSON reply; empty: the reply itself."""
    field_map: dict[str, str] = {"name": "name", "email": "email", "external_id": "id"}
    """ctihub field to dotted path inside one contact of the reply."""
    record_url: str = ""
    """Link to a contact's record in the external CRM, with ``{e164}``. Set when that CRM is
    the customers' source: the panel then shows customers read-only with this link."""
    webhook_url: str = ""
    """Where call records and case updates are POSTed; empty: no webhooks."""
    webhook_secret: SecretStr = SecretStr("")
    headers: dict[str, str] = {}
    timeout: float = Field(default=2.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_delay: float = Field(default=0.5, gt=0)
    retry_max_delay: float = Field(default=60.0, gt=0)


class CrmConfig(_Section):
    """Caller matching, case files and the call log (``[crm]``)."""

    default_region: str = "IR"
    """ISO region used to read numbers written without a country code."""
    outside_line_prefix: dict[str, str] = {}
    """Trunk name to the digit(s) the PBX prefixes for an outside line (e.g. ``"9"``)."""
    suffix_match_digits: int = Field(default=8, ge=0, le=15)
    """When no exact match: match on this many last digits; 0 turns it off."""
    lookup_cache_size: int = Field(default=10_000, ge=0)
    lookup_cache_ttl: float = Field(default=60.0, ge=0)
    max_candidates: int = Field(default=5, ge=1, le=50)
    recent_calls: int = Field(default=5, ge=0, le=50)
    contract_expiring_days: int = Field(default=30, ge=0)
    due_hours_key_customer: float = Field(default=24.0, gt=0)
    due_hours_default: float = Field(default=48.0, gt=0)
    tracking_code_length: int = Field(default=8, ge=5, le=16)
    """Digits in a case tracking code, the Verhoeff check digit included."""
    case_variable: str = "CTIHUB_CASE"
    """Channel variable carrying the tracking code of the call's case."""
    spool_dir: str = "var/spool/crm"
    """Durable spool for call records and dead-lettered webhooks."""
    spool_retry_interval: float = Field(default=5.0, gt=0)
    http: CrmHttpConfig = CrmHttpConfig()

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        import phonenumbers

        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (expected e.g. 'IR')")
        return region

    @field_validator("outside_line_prefix")
    @classmethod
    def _digits(cls, value: dict[str, str]) -> dict[str, str]:
        for trunk, prefix in value.items():
            if not prefix.isdigit():
                raise ValueError(f"prefix for trunk {trunk!r} must be digits, got {prefix!r}")
        return value


class AlertQueueConfig(_Section):
    """One queue's alert thresholds (``[alerts.queues.<name>]``); unset keys keep the defaults."""

    max_wait_seconds: int | None = Field(default=None, ge=1)
    sla_seconds: int | None = Field(default=None, ge=1)
    sla_target_percent: float | None = Field(default=None, ge=0, le=100)
    sla_window_seconds: int | None = Field(default=None, ge=60)
    sla_min_calls: int | None = Field(default=None, ge=1)
    ring_no_answer_count: int | None = Field(default=None, ge=1)
    ring_no_answer_window_seconds: int | None = Field(default=None, ge=60)
    callback_within_minutes: int | None = Field(default=None, ge=1)


class AlertClassConfig(_Section):
    """One customer class's case thresholds (``[alerts.classes.key]``, ``.standard``)."""

    due_hours: float = Field(gt=0)
    first_reply_hours: float = Field(default=24.0, gt=0)


class AlertsConfig(_Section):
    """Management-by-exception alerts (``[alerts]``): rules, and where they are sent."""

    enabled: bool = True
    max_wait_seconds: int = Field(default=120, ge=1)
    sla_seconds: int = Field(default=20, ge=1)
    sla_target_percent: float = Field(default=80.0, ge=0, le=100)
    sla_window_seconds: int = Field(default=1800, ge=60)
    sla_min_calls: int = Field(default=10, ge=1)
    ring_no_answer_count: int = Field(default=3, ge=1)
    ring_no_answer_window_seconds: int = Field(default=3600, ge=60)
    callback_within_minutes: int = Field(default=30, ge=1)
    queues: dict[str, AlertQueueConfig] = {}
    classes: dict[str, AlertClassConfig] = {
        "key": AlertClassConfig(due_hours=24.0),
        "standard": AlertClassConfig(due_hours=48.0),
    }
    """``key``: VIP customers; ``standard``: everyone else."""
    tick_seconds: float = Field(default=1.0, gt=0, le=60)
    case_check_seconds: float = Field(default=60.0, gt=0)
    batch_window_seconds: float = Field(default=5.0, ge=0)
    """An alert waits this long for others, so many at once make one mail and one webhook."""
    batch_min_interval_seconds: float = Field(default=60.0, ge=0)
    batch_max: int = Field(default=50, ge=1, le=1000)
    webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    smtp_host: str = ""
    """Empty: no e-mail."""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout: float = Field(default=10.0, gt=0)
    mail_from: str = "ctihub@localhost"
    mail_to: list[str] = []

    def rules(self, queue_targets: Mapping[str, tuple[int, float]] | None = None) -> AlertRules:
        """The domain's rules from this section.

        ``queue_targets``: each administered queue's service level (threshold seconds,
        target percent) from the ``queues`` table; a queue's own ``[alerts.queues.<name>]``
        keys still win over them.
        """
        fields = (
            "max_wait_seconds",
            "sla_seconds",
            "sla_target_percent",
            "sla_window_seconds",
            "sla_min_calls",
            "ring_no_answer_count",
            "ring_no_answer_window_seconds",
            "callback_within_minutes",
        )
        default = QueueRules(**{name: getattr(self, name) for name in fields})
        queues = {}
        targets = queue_targets or {}
        for queue in {*self.queues, *targets}:
            values: dict[str, Any] = {name: getattr(default, name) for name in fields}
            if queue in targets:
                values["sla_seconds"], values["sla_target_percent"] = targets[queue]
            override = self.queues.get(queue)
            if override is not None:
                values |= {k: v for k in fields if (v := getattr(override, k)) is not None}
            queues[queue] = QueueRules(**values)
        classes = {
            name: ClassRules(c.due_hours, c.first_reply_hours) for name, c in self.classes.items()
        }
        return AlertRules(default_queue=default, queues=queues, classes=classes)


class CallbacksConfig(_Section):
    """Callback tasks for abandoned and missed callers (``[callbacks]``)."""

    enabled: bool = True
    max_attempts: int = Field(default=5, ge=1, le=50)
    """A callback is closed as given up after this many unanswered attempts."""
    missed_calls: bool = True
    """Also for calls nobody answered that did not wait in a queue (``missed``)."""
    timezone: str = "Asia/Tehran"
    """The call center's time zone: customers' hours to be called are read in it."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected e.g. 'Asia/Tehran')") from None
        return value
