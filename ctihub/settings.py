"""The whole configuration: one TOML file, overridden by ``CTIHUB_<SECTION>__<KEY>`` variables.

Each package owns its section (``pbx_adapters.settings``, ``crm_sync.settings``,
``popup_server.settings``, ``recordings.settings``, ``cti.settings``); this module
assembles them, with the bus's own section, into :class:`Settings`. Every key is
documented in ``ctihub/examples/ctihub.example.toml``. Loading validates everything at
start and raises :class:`ConfigError` naming the key and what is wrong; secrets
are ``SecretStr`` so they never print in logs or reprs.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from crm_sync.commands import normaliser_for
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import AlertsConfig, CallbacksConfig, CrmConfig, DatabaseConfig
from cti.settings import FiguresConfig, TrackerConfig
from pbx_adapters.settings import AgiConfig, AmiConfig, CdrConfig, SimulatorConfig
from popup_server.settings import PopupConfig
from recordings.settings import RecordingsConfig

ENV_PREFIX = "CTIHUB_"
_SECTION_KEY_ERROR = re.compile(r"^Value error, (?P<key>[a-z_]+): (?P<reason>.*)$", re.S)


class ConfigError(Exception):
    """The configuration is invalid; the message names each bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    drive_pbx: bool = True
    """False: this node serves panels and the IVR only and never takes the AMI link."""
    action_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    """A panel action relayed to the AMI holder: how long the asking node waits for its result."""
    """False: this node serves panels and the IVR only and never takes the AMI link."""

    @model_validator(mode="after")
    def _batch_below_retention(self) -> BusConfig:
        if self.read_count >= self.stream_maxlen:
            raise ValueError(
                f"read_count ({self.read_count}) must be below stream_maxlen ({self.stream_maxlen})"
            )
        return self


class Settings(BaseSettings):
    """The whole configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    pbx: Literal["asterisk", "simulator"] | None = None
    """A required choice outside ``--demo`` (which runs the simulator): a configuration
    meant for a real PBX must never silently talk to the simulator."""
    ami: AmiConfig = AmiConfig()
    tracker: TrackerConfig = TrackerConfig()
    figures: FiguresConfig = FiguresConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    agi: AgiConfig = AgiConfig()
    cdr: CdrConfig = CdrConfig()
    database: DatabaseConfig = DatabaseConfig()
    crm: CrmConfig = CrmConfig()
    bus: BusConfig = BusConfig()
    http: PopupConfig = PopupConfig()
    recordings: RecordingsConfig = RecordingsConfig()
    alerts: AlertsConfig = AlertsConfig()
    callbacks: CallbacksConfig = CallbacksConfig()

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
        loc, msg = [str(p) for p in err["loc"]], err["msg"]
        # A plain-dataclass section (cti.settings) names its key as "key: reason".
        named = _SECTION_KEY_ERROR.match(msg)
        if named:
            loc, msg = [*loc, named["key"]], named["reason"]
        key = ".".join(loc)
        env_name = ENV_PREFIX + "__".join(loc).upper()
        lines.append(f"  {key} (or {env_name}): {msg}")
    return "\n".join(lines)


PBX_NOT_CHOSEN = (
    'pbx is not set: write pbx = "asterisk" (a real Asterisk, Issabel or FreePBX, with its [ami]) '
    'or pbx = "simulator" (the built-in simulator) in the configuration, or set CTIHUB_PBX; '
    "`ctihub init` writes a configuration for a real PBX"
)


def chosen_pbx(settings: Settings, *, demo: bool) -> Settings:
    """``settings`` with its PBX chosen: the demo runs the simulator; otherwise an unset
    ``pbx`` is a :class:`ConfigError` saying how to choose."""
    if settings.pbx is not None:
        return settings
    if demo:
        return settings.model_copy(update={"pbx": "simulator"})
    raise ConfigError(PBX_NOT_CHOSEN)


def phone_normaliser(settings: Settings) -> PhoneNormaliser:
    """The one phone normaliser of this installation: the CRM's region and trunk prefixes,
    the tracker's idea of an extension."""
    return normaliser_for(settings.crm, settings.tracker.extension_pattern)
