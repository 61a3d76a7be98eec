"""Who may use the panel: users, password checks, signed access tokens, login throttling.

Access tokens are short-lived and stateless: ``v1.<payload>.<signature>``
where the payload is base64url JSON (user id, username, role, extensions,
expiry) and the signature is HMAC-SHA256 over ``v1.<payload>`` with the
server's secret key. A panel renews its token before it expires
(``POST /api/v1/token``); a token cannot be revoked before its expiry, which
is why it lives minutes, not days.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["agent", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin")
"""Lowest to highest."""
_TOKEN_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class User:
    """A panel user; ``extensions`` are the PBX extensions whose calls they see.

    A person may hold several roles (``roles``); ``role`` is the highest of
    them (for logs and old clients). Every role check goes through the
    properties below (:attr:`is_agent`, :attr:`can_supervise`, :attr:`is_admin`).
    """

    id: int
    username: str
    name: str
    role: Role
    extensions: tuple[str, ...] = ()
    language: str | None = None
    roles: tuple[Role, ...] = ()
    """Every role held, lowest first; empty when constructed: ``(role,)``."""

    def __post_init__(self) -> None:
        held = set(self.roles) | ({self.role} if not self.roles else set())
        ordered = tuple(r for r in ROLES if r in held)
        object.__setattr__(self, "roles", ordered)
        object.__setattr__(self, "role", ordered[-1])

    @property
    def is_agent(self) -> bool:
        """Takes calls: has the agent panel."""
        return "agent" in self.roles

    @property
    def can_supervise(self) -> bool:
        """Sees the live board, queues, every call and recording (supervisors and admins)."""
        return "supervisor" in self.roles or "admin" in self.roles

    @property
    def is_admin(self) -> bool:
        """Administers people, devices, queues, tokens; reads the audit log."""
        return "admin" in self.roles

    def public(self) -> dict[str, Any]:
        """The JSON form sent to the user's own panel."""
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "role": self.role,
            "roles": list(self.roles),
            "extensions": list(self.extensions),
            "language": self.language,
        }


class UserStore(Protocol):
    """Where users and their password hashes live (``crm_sync`` agents, or memory in tests)."""

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account active; None otherwise."""
        ...

    async def get(self, user_id: int) -> User | None:
        """The active user with this id, or None."""
        ...


class InvalidTokenError(Exception):
    """A token is missing, malformed, forged or expired; the message says which."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says."""

    user: User
    expires_at: int


class TokenSigner:
    """Issues and verifies HMAC-signed access tokens."""

    def __init__(
        self, key: bytes, ttl_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) < 32:
            raise ValueError(f"token key must be at least 32 bytes, got {len(key)}")
        self._key = key
        self._ttl = ttl_seconds
        self._clock = clock

    @property
    def ttl_seconds(self) -> int:
        """Lifetime of the tokens this signer issues."""
        return self._ttl

    def issue(self, user: User) -> tuple[str, int]:
        """A fresh token for ``user`` and its expiry (epoch seconds)."""
        expires_at = int(self._clock()) + self._ttl
        payload = {
            "uid": user.id,
            "sub": user.username,
            "name": user.name,
            "role": user.role,
            "roles": list(user.roles),
            "ext": list(user.extensions),
            "lang": user.language,
            "exp": expires_at,
            "jti": secrets.token_urlsafe(8),
        }
        body = _b64encode(json.dumps(payload, separators=(",", ":")).encode())
        signed = f"{_TOKEN_VERSION}.{body}"
        return f"{signed}.{_b64encode(self._sign(signed))}", expires_at

    def verify(self, token: str | None) -> TokenClaims:
        """The claims of a valid token; raises :class:`InvalidTokenError` otherwise."""
        if not token:
            raise InvalidTokenError("no token given")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _TOKEN_VERSION:
            raise InvalidTokenError("token is not of the form v1.<payload>.<signature>")
        signed = f"{parts[0]}.{parts[1]}"
        try:
            signature = _b64decode(parts[2])
        except ValueError:
            raise InvalidTokenError("token signature is not base64url") from None
        if not hmac.compare_digest(signature, self._sign(signed)):
            raise InvalidTokenError("token signature does not match")
        try:
            payload = json.loads(_b64decode(parts[1]))
            expires_at = int(payload["exp"])
            role = payload["role"]
            roles = payload.get("roles") or [role]
            for held in (role, *roles):
                if held not in ROLES:
                    raise ValueError(f"unknown role {held!r}")
            user = User(
                id=int(payload["uid"]),
                username=str(payload["sub"]),
                name=str(payload["name"]),
                role=role,
                extensions=tuple(str(e) for e in payload["ext"]),
                language=payload.get("lang"),
                roles=tuple(roles),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidTokenError(f"token payload is malformed: {exc}") from None
        if expires_at <= self._clock():
            raise InvalidTokenError("token has expired")
        return TokenClaims(user, expires_at)

    def _sign(self, data: str) -> bytes:
        return hmac.new(self._key, data.encode(), hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(str(exc)) from None


@dataclass(slots=True)
class _Attempts:
    failures: deque[float] = field(default_factory=deque)


class LoginRateLimiter:
    """Counts failed logins per (username, client address) in a sliding window."""

    def __init__(
        self, max_failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._clock = clock
        self._keys: dict[tuple[str, str], _Attempts] = {}

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this pair may try again; 0 when it may try now."""
        attempts = self._fresh(username, address)
        if attempts is None or len(attempts.failures) < self._max:
            return 0.0
        return max(0.0, attempts.failures[0] + self._window - self._clock())

    def failed(self, username: str, address: str) -> None:
        """Record one failed attempt."""
        key = (username.lower(), address)
        attempts = self._keys.setdefault(key, _Attempts())
        attempts.failures.append(self._clock())
        if len(self._keys) > 100_000:
            self._sweep()

    def succeeded(self, username: str, address: str) -> None:
        """A successful login clears the pair's failures."""
        self._keys.pop((username.lower(), address), None)

    def _fresh(self, username: str, address: str) -> _Attempts | None:
        key = (username.lower(), address)
        attempts = self._keys.get(key)
        if attempts is None:
            return None
        horizon = self._clock() - self._window
        while attempts.failures and attempts.failures[0] <= horizon:
            attempts.failures.popleft()
        if not attempts.failures:
            del self._keys[key]
            return None
        return attempts

    def _sweep(self) -> None:
        # Bounds memory under a spray of usernames: drop every pair whose window has passed.
        for username, address in list(self._keys):
            self._fresh(username, address)
