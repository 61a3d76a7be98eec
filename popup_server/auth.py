"""Who may use the panel: users, password checks, signed access tokens, login throttling.

Access tokens are short-lived and stateless: ``v1.<payload>.<signature>``
where the payload is base64url JSON (user id, username, role, extensions,
expiry) and the signature is HMAC-SHA256 over ``v1.<payload>`` with the
server's secret key. A panel renews its token before it expires
(``POST /api/v1/token``); a token cannot be revoked before its expiry, which
is why it lives minutes, not days.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
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
        self._ended: dict[int, float] = {}

    def end_sessions(self, user_id: int) -> None:
        """Refuse from now on every token issued so far to ``user_id`` (a disabled person).

        Kept in this process: other nodes refuse them at their renewal, when
        the account is re-read.
        """
        self._ended[user_id] = self._clock()

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
            "iat": round(self._clock(), 3),
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
        ended = self._ended.get(user.id)
        if ended is not None and float(payload.get("iat", 0)) <= ended:
            raise InvalidTokenError("session ended: the account was disabled")
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


class FailureCounter:
    """Failures per key within a sliding window, remembered for at most ``max_keys`` keys.

    Memory is bounded by ``max_keys`` x ``limit`` timestamps: each key keeps only
    its last ``limit`` failures (all a decision needs), and past ``max_keys`` the
    key touched longest ago is forgotten. Every operation is O(1); nothing ever
    sweeps the table on the event loop.
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        failures = self._keys.get(key)
        if failures is None or len(failures) < self._limit:
            return 0.0
        return max(0.0, failures[0] + self._window - self._clock())

    def add(self, key: str) -> None:
        """Count one failure of ``key``."""
        failures = self._keys.get(key)
        if failures is None:
            failures = self._keys[key] = deque(maxlen=self._limit)
            if len(self._keys) > self._max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        failures.append(self._clock())

    def forgive(self, key: str) -> None:
        """Take back the last failure counted for ``key`` (it turned out a success)."""
        failures = self._keys.get(key)
        if failures:
            failures.pop()
            if not failures:
                del self._keys[key]

    def clear(self, key: str) -> None:
        """Forget every failure of ``key``."""
        self._keys.pop(key, None)


class LoginRateLimiter:
    """Failed logins counted per (username, address), per username, per address and globally.

    An attempt is counted *before* its password is checked and taken back if
    it succeeds, so a burst of parallel attempts is limited as it arrives,
    not after every one of them has been hashed.
    """

    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        *,
        per_username: int | None = None,
        per_address: int | None = None,
        overall: int | None = None,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        def counter(limit: int) -> FailureCounter:
            return FailureCounter(limit, window_seconds, max_keys, clock)

        self._pair = counter(max_failures)
        self._username = counter(per_username or 4 * max_failures)
        self._address = counter(per_address or 10 * max_failures)
        self._overall = counter(overall or 200 * max_failures)

    def _keys(self, username: str, address: str) -> list[tuple[FailureCounter, str]]:
        name = username.lower()
        return [
            (self._pair, f"{name}\x00{address}"),
            (self._username, name),
            (self._address, address),
            (self._overall, ""),
        ]

    @property
    def remembered(self) -> int:
        """Keys held across the counters (bounded by four times ``max_keys``)."""
        return sum(len(c) for c in (self._pair, self._username, self._address, self._overall))

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until this username from this address may try again; 0 when it may now."""
        return max(counter.retry_after(key) for counter, key in self._keys(username, address))

    def attempt(self, username: str, address: str) -> None:
        """Count an attempt about to be checked as a failure (see :meth:`succeeded`)."""
        for counter, key in self._keys(username, address):
            counter.add(key)

    def succeeded(self, username: str, address: str) -> None:
        """Take back the attempt's count; the username's own failures are cleared."""
        pair, username_key, address_key, overall_key = self._keys(username, address)
        pair[0].clear(pair[1])
        username_key[0].clear(username_key[1])
        address_key[0].forgive(address_key[1])
        overall_key[0].forgive(overall_key[1])


class LoginsBusyError(Exception):
    """Too many logins are already waiting for a password check; try again shortly."""


class PasswordChecks:
    """Password checks, at most ``concurrency`` at once and ``waiting`` in line.

    The store hashes in an executor (off the event loop); this bounds how many
    hashes run at once, so a flood of logins takes at most ``concurrency``
    cores, and how many wait, so it cannot queue up unbounded work either.
    """

    def __init__(self, users: UserStore, concurrency: int, waiting: int) -> None:
        self._users = users
        self._slots = asyncio.Semaphore(concurrency)
        self._max_waiting = waiting
        self._waiting = 0

    async def authenticate(self, username: str, password: str) -> User | None:
        """As :meth:`UserStore.authenticate`; raises :class:`LoginsBusyError` when full."""
        if self._waiting >= self._max_waiting:
            raise LoginsBusyError(f"{self._waiting} logins already waiting")
        self._waiting += 1
        try:
            async with self._slots:
                return await self._users.authenticate(username, password)
        finally:
            self._waiting -= 1
