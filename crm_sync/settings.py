"""Settings of the CRM side: the database (``[database]``) and the CRM (``[crm]``, with its
external connector ``[crm.http]``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


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
