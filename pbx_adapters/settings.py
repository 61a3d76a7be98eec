"""Settings of the PBX side: the AMI link (``[ami]``), the FastAGI IVR (``[agi]``) and the
simulator (``[simulator]``). The composition root (``ctihub.settings``) assembles them.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

SCENARIOS = Path(__file__).resolve().parent / "simulator" / "scenarios"
"""The scenarios shipped inside the package (the demo's is read from there, installed or not)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AmiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "ctihub"
    secret: SecretStr = SecretStr("")
    auth: Literal["plain", "md5"] = "md5"
    tls: bool = False
    """Connect over TLS (Asterisk's ``tlsenable``, port 5039 by default)."""
    tls_ca_file: str = ""
    """PEM file of the CA(s) that signed the PBX's certificate; empty: the system's CAs."""
    tls_verify: bool = True
    """Check the PBX's certificate and name. False encrypts without knowing who answers
    (an attacker in the middle gets the AMI login): only for a lab."""
    tls_server_name: str = ""
    """The name the certificate must carry when it differs from ``host`` (an IP address)."""
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
    spy_channel_prefix: str = "PJSIP/{extension}-"
    """ChanSpy's channel prefix for an agent's calls (listen, whisper, barge): the phone's
    own channel, ``SIP/{extension}-`` on chan_sip (Issabel); the trailing ``-`` keeps
    1001 from matching 10011."""

    member_state_interface: str = "hint:{extension}@ext-local"
    """Device state of a queue member added by the panel (QueueAdd ``StateInterface``), as
    FreePBX and Issabel set it for Local members; empty for device members."""
    transfer_context: str = "from-internal"
    """Dialplan context transfers (blind and attended) dial the target in."""

    @field_validator("tls_ca_file")
    @classmethod
    def _readable_ca(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    def tls_context(self) -> ssl.SSLContext | None:
        """The client TLS context for the AMI connection, or None without ``tls``."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.tls_ca_file or None)
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    @field_validator("originate_channel", "member_interface", "spy_channel_prefix")
    @classmethod
    def _has_extension(cls, value: str) -> str:
        if "{extension}" not in value:
            raise ValueError("must contain {extension}")
        return value


class CdrConfig(_Section):
    """The PBX's own call records (``[cdr]``), read after a takeover or a restart.

    The calls that ended while no hub node held the AMI link are in the PBX's
    CDR table only; the node that takes the link writes those the call log
    lacks (marked reconciled).
    """

    url: SecretStr = SecretStr("")
    """SQLAlchemy async URL of the CDR database, e.g.
    ``mysql+aiomysql://ctihub:…@pbx/asteriskcdrdb`` (Issabel/FreePBX) or
    ``postgresql+asyncpg://…`` (cdr_pgsql); empty: no reconciliation from CDRs."""
    table: str = Field("cdr", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    timezone: str = "UTC"
    """The PBX's time zone: Asterisk writes ``calldate`` in local time, without a zone."""
    max_gap_hours: float = Field(24.0, gt=0, le=24 * 31)
    """Look back at most this far (a hub that was down for a week reads one day)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name like Asia/Tehran)"
            ) from None
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
    vip_priority: int = Field(10, ge=1, le=100)
    """``CTIHUB_PRIORITY`` (the dialplan's ``QUEUE_PRIO``) for VIP customers; others get none."""
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


class SimulatorConfig(_Section):
    """The built-in PBX simulator, used when ``pbx = "simulator"`` (``[simulator]``).

    The hub still connects to it over TCP AMI and serves it FastAGI, exactly as
    with Asterisk; only who listens on the AMI port changes.
    """

    scenario: str = str(SCENARIOS / "demo.toml")
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
    recordings_dir: str = ""
    """Write a real WAV for every recorded call here (the demo), at the path the simulated
    PBX names below its monitor directory; empty: no files (as the lab's traces)."""
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
