"""Configuration: one TOML file, overridden by ``CTIHUB_<SECTION>__<KEY>`` variables.

Every key is documented in ``config/ctihub.example.toml``. Loading validates
everything at start and raises :class:`ConfigError` naming the key and what is
wrong; secrets are ``SecretStr`` so they never print in logs or reprs.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "CTIHUB_"


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


class Settings(BaseSettings):
    """The whole configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    pbx: Literal["asterisk", "simulator"] = "simulator"
    ami: AmiConfig = AmiConfig()
    tracker: TrackerConfig = TrackerConfig()

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
