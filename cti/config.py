"""Configuration: one TOML file, overridden by ``CTIHUB_<SECTION>__<KEY>`` variables.

Every key is documented in ``config/ctihub.example.toml``. Loading validates
everything at start and raises :class:`ConfigError` naming the key and what is
wrong; secrets are ``SecretStr`` so they never print in logs or reprs.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "CTIHUB_"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
"""Where ``config/`` lives in a source checkout (the demo's scenario is read from there)."""


class ConfigError(Exception):
    """The configuration is invalid; the message names each bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AmiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "ctihub"
    secret: SecretStr = SecretStr("")
    auth: Literal["plain", "md5"] = "md5"
    tls: bool = False
    connect_timeout: float = Field(5.0, gt=0)
    action_timeout: float = Field(10.0, gt=0)
    ping_interval: float = Field(15.0, gt=0)
    ping_timeout: float = Field(5.0, gt=0)
    reconnect_min_delay: float = Field(0.5, gt=0)
    reconnect_max_delay: float = Field(30.0, gt=0)
    auth_failure_delay: float = Field(60.0, gt=0)
    fully_booted_timeout: float = Field(5.0, gt=0)
    """Wait this long for ``FullyBooted`` after login, then go on without it.

    Asterisk sends it at login only to users with ``read=system``."""
    list_timeout: float = Field(30.0, gt=0)
    """Whole-list deadline for ``CoreShowChannels``/``QueueStatus`` and other event lists."""
    originate_channel: str = "Local/{extension}@from-internal/n"
    """Click-to-call rings this channel first (the agent's phone), then dials the number."""
    originate_context: str = "from-internal"
    """Dialplan context the number is dialled in once the agent answers."""
    member_interface: str = "Local/{extension}@from-queue/n"
    """Queue member interface of an agent, for pause/unpause (``PJSIP/{extension}`` on plain
    Asterisk queues)."""

    @field_validator("originate_channel", "member_interface")
    @classmethod
    def _has_extension(cls, value: str) -> str:
        if "{extension}" not in value:
            raise ValueError("must contain {extension}")
        return value


class TrackerConfig(_Section):
    extension_pattern: str = r"^[1-9][0-9]{1,5}$"
    """What an internal extension looks like; anything else is an outside number."""
    extension_map: dict[str, str] = {}
    """Interface or device (``PJSIP/1001``, ``Local/1001@from-queue/n``) to agent extension."""
    channel_expiry_seconds: float = Field(4 * 3600.0, gt=0)
    """A channel not hung up after this long is dropped with a warning."""
    recording_variables: list[str] = ["MIXMONITOR_FILENAME", "CALLFILENAME", "CDR(recordingfile)"]
    kept_variables: list[str] = ["CTIHUB_CONTRACT", "CTIHUB_CASE", "CTIHUB_CASE_OWNER"]
    """Channel variables remembered on the call and reported at its end."""

    @field_validator("extension_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class AgiConfig(_Section):
    """The FastAGI server the PBX's IVR dialplan calls (``[agi]``)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    """Bind to the PBX-facing address only: FastAGI has no authentication."""
    port: int = Field(4573, ge=0, le=65535)
    allowed_peers: list[str] = ["127.0.0.1", "::1"]
    """PBX addresses or networks (``10.0.0.10``, ``10.0.0.0/24``) allowed to connect."""
    lookup_timeout: float = Field(1.0, gt=0, le=10)
    """Seconds the IVR waits for the CRM before failing open (queueing the caller)."""
    attempts: int = Field(3, ge=1, le=10)
    """Tries a caller gets to key a valid tracking code."""
    prompt_contract_expired: str = "ss-noservice"
    prompt_enter_code: str = "beep"
    prompt_invalid_code: str = "invalid"

    @field_validator("allowed_peers")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for peer in value:
            try:
                ipaddress.ip_network(peer, strict=False)
            except ValueError as exc:
                raise ValueError(f"{peer!r} is not an address or network") from exc
        return value


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


class BusConfig(_Section):
    """How domain events travel between components and hub nodes (``[bus]``)."""

    backend: Literal["local", "redis"] = "local"
    """``local``: in-process, one node. ``redis``: Redis Streams shared by several nodes."""
    retention: int = Field(default=10_000, ge=1)
    """Local bus: events kept for resuming subscribers; also the most a subscriber may lag."""
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = Field(default="ctihub:", min_length=1)
    """Prefix of every Redis key the bus and the AMI lease use."""
    stream_maxlen: int = Field(default=100_000, ge=100)
    """Events kept in the stream (approximately, at least this many)."""
    read_count: int = Field(default=500, ge=1)
    """Most events one subscriber read fetches; must be below ``stream_maxlen``."""
    block_seconds: float = Field(default=5.0, gt=0, le=60)
    """How long one blocking stream read waits for new events."""
    command_timeout: float = Field(default=5.0, gt=0)
    cursor_ttl_seconds: int = Field(default=7 * 86_400, ge=60)
    """A subscriber's saved position is forgotten after this long unused."""
    node_id: str = ""
    """This node's name in the AMI lease; empty: the host name."""
    lease_ttl_seconds: float = Field(default=5.0, ge=0.3)
    """AMI lease lifetime: a dead holder is replaced within about this long."""

    @model_validator(mode="after")
    def _batch_below_retention(self) -> BusConfig:
        if self.read_count >= self.stream_maxlen:
            raise ValueError(
                f"read_count ({self.read_count}) must be below stream_maxlen ({self.stream_maxlen})"
            )
        return self


class PopupConfig(_Section):
    """The agent panel's web server: auth, websockets, REST API (``[http]``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    """0 picks a free port (tests)."""
    public_url: str = "http://127.0.0.1:8080"
    """Where browsers reach the panel; its origin is always allowed on the websocket."""
    allowed_origins: list[str] = []
    """Further ``Origin`` values (``https://crm.example.com``) allowed to open a websocket."""
    secret_key: SecretStr = SecretStr("")
    """Signs access tokens (HMAC-SHA256); at least 32 characters. Empty: a random key per start."""
    token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    """Lifetime of an access token; the panel renews it at half-life."""
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    """Failed logins allowed per username and client address within the window."""
    login_window_seconds: float = Field(default=300.0, gt=0)
    heartbeat_seconds: float = Field(default=20.0, gt=0)
    """Websocket ping interval; a peer silent for twice this long is closed."""
    auth_timeout_seconds: float = Field(default=10.0, gt=0)
    """A websocket must authenticate within this long after opening."""
    trusted_proxies: list[str] = []
    """Addresses of reverse proxies whose ``X-Forwarded-For`` is believed for rate limiting."""
    wallboard_sla_seconds: int = Field(default=20, ge=1, le=3600)
    """Service level: a queue call answered within this many seconds of waiting is in target."""
    wallboard_sla_target_percent: float = Field(default=80.0, ge=0, le=100)
    """The wallboard flags a queue whose service level today is under this percentage."""
    wallboard_max_wait_seconds: int = Field(default=60, ge=1, le=86_400)
    """The wallboard flags a queue whose longest waiting caller has waited longer than this."""

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (or empty for a random key)")
        return value


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


class SimulatorConfig(_Section):
    """The built-in PBX simulator, used when ``pbx = "simulator"`` (``[simulator]``).

    The hub still connects to it over TCP AMI and serves it FastAGI, exactly as
    with Asterisk; only who listens on the AMI port changes.
    """

    scenario: str = str(PROJECT_ROOT / "config" / "scenarios" / "demo.toml")
    """Scenario TOML (PBX layout, scripted calls, random traffic); empty: the lab PBX, no calls."""
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=0, le=65535)
    """AMI port the simulator listens on; 0 picks a free port (tests)."""
    username: str = ""
    """AMI user the simulator accepts; empty: the same as ``ami.username``."""
    secret: SecretStr = SecretStr("")
    """Its secret; empty: the same as ``ami.secret``."""
    agi_host: str = ""
    """Where the simulator reaches the hub's FastAGI server; empty: ``agi.host``."""
    agi_port: int = Field(0, ge=0, le=65535)
    """0: ``agi.port``."""
    calls_per_second: float | None = Field(None, ge=0)
    """Overrides the scenario's random traffic rate."""
    agents: int | None = Field(None, ge=1, le=10_000)
    """Replaces the scenario's agents by this many generated ones (2001…) in every queue."""
    seed: int | None = None
    """Overrides the scenario's seed (same seed, same calls)."""
    speed: float = Field(1.0, gt=0, le=1000)
    """Simulated seconds per real second."""
    emit_noise_events: bool | None = None
    """Overrides the scenario: send VarSet/Newexten/DeviceStateChange as a real PBX does."""


class Settings(BaseSettings):
    """The whole configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    pbx: Literal["asterisk", "simulator"] = "simulator"
    ami: AmiConfig = AmiConfig()
    tracker: TrackerConfig = TrackerConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    agi: AgiConfig = AgiConfig()
    database: DatabaseConfig = DatabaseConfig()
    crm: CrmConfig = CrmConfig()
    bus: BusConfig = BusConfig()
    http: PopupConfig = PopupConfig()
    recordings: RecordingsConfig = RecordingsConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first so that it overrides the file passed as init values.
        return (env_settings, init_settings)


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (if any), apply environment overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    saved = None
    if env is not None:
        saved = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
        for key in saved:
            del os.environ[key]
        os.environ.update(env)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None
    finally:
        if saved is not None:
            for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
                del os.environ[key]
            os.environ.update(saved)


def _explain(exc: ValidationError, path: str | Path | None) -> str:
    where = f" in {path}" if path else ""
    lines = [f"invalid configuration{where}:"]
    for err in exc.errors(include_url=False, include_input=False):
        key = ".".join(str(p) for p in err["loc"])
        env_name = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
        lines.append(f"  {key} (or {env_name}): {err['msg']}")
    return "\n".join(lines)
