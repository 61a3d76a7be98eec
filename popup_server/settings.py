"""Settings of the agent panel's web server (``[http]``)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    login_max_failures_per_username: int = Field(default=20, ge=1, le=100_000)
    """Failed logins allowed per username from any address within the window."""
    login_max_failures_per_address: int = Field(default=50, ge=1, le=100_000)
    """Failed logins allowed per client address for any username within the window."""
    login_max_failures_overall: int = Field(default=1000, ge=1, le=1_000_000)
    """Failed logins allowed in all within the window (a distributed guessing campaign)."""
    login_window_seconds: float = Field(default=300.0, gt=0)
    login_hash_concurrency: int = Field(default=1, ge=1, le=64)
    """Password checks (scrypt, in an executor) run at once; the rest wait in line."""
    login_waiting_max: int = Field(default=32, ge=1, le=10_000)
    """Logins waiting for a password check; beyond this a login is answered 503 at once."""
    tracking_code_tries: int = Field(default=10, ge=1, le=10_000)
    """Unknown tracking codes an agent may try within ``login_window_seconds`` (429 after)."""
    heartbeat_seconds: float = Field(default=20.0, gt=0)
    """Websocket ping interval; a peer silent for twice this long is closed."""
    auth_timeout_seconds: float = Field(default=10.0, gt=0)
    """A websocket must authenticate within this long after opening."""
    ws_max_per_user: int = Field(default=20, ge=1, le=100_000)
    """Websockets one user may have open at once (tabs, reconnects); more are closed 4029."""
    ws_max_per_address: int = Field(default=1000, ge=1, le=1_000_000)
    """Websockets open at once from one client address (``trusted_proxies`` apply); HTTP 429."""
    ws_queue_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=1024**3)
    """Bytes waiting to be sent to one socket before it is closed as too slow (4008)."""
    trusted_proxies: list[str] = []
    """Addresses of reverse proxies whose ``X-Forwarded-For`` is believed for rate limiting."""
    ivr_token: SecretStr = SecretStr("")
    """Bearer token of the PBX's classic-AGI IVR (``ctihub-agi``), at least 32 characters;
    empty: ``/api/v1/ivr/*`` is off."""
    ivr_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    """How long ``/api/v1/ivr/*`` waits for the CRM before answering 504 (the script fails open)."""
    metrics_allowed: list[str] = ["127.0.0.1/32", "::1/128"]
    """Networks a Prometheus scraper may read ``/metrics`` from without the token (direct only)."""
    metrics_token: SecretStr = SecretStr("")
    """``Authorization: Bearer`` token that opens ``/metrics`` from anywhere; empty: none."""

    intervention_roles: dict[str, list[str]] = {
        "pause": ["supervisor", "admin"],
        "logout": ["supervisor", "admin"],
        "listen": ["supervisor", "admin"],
        "whisper": ["supervisor", "admin"],
        "barge": ["supervisor", "admin"],
    }
    """Which roles may do each wallboard intervention (pause also covers unpause)."""

    @field_validator("intervention_roles")
    @classmethod
    def _known_interventions(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        actions = {"pause", "logout", "listen", "whisper", "barge"}
        for action, roles in value.items():
            if action not in actions:
                raise ValueError(f"unknown intervention {action!r} ({', '.join(sorted(actions))})")
            if unknown := set(roles) - {"agent", "supervisor", "admin"}:
                raise ValueError(f"{action}: unknown role(s) {', '.join(sorted(unknown))}")
        return value

    wrapup_seconds: int = Field(default=30, ge=0, le=3600)
    """After-call work shown after a call ends before the agent is available again (as the
    queue's ``wrapuptime`` in queues.conf: keep them equal)."""
    wrapup_seconds_by_queue: dict[str, int] = {}
    """Queue name to its own wrap-up seconds."""
    wrapup_notes_required: list[str] = []
    """Queues whose calls need a note before the after-call card goes (no Dismiss)."""

    @field_validator("metrics_allowed")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not an address or network: {exc}") from None
        return value

    @field_validator("secret_key", "ivr_token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (or empty)")
        return value
