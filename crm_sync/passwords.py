"""Password hashing for hub users (agents, supervisors, admins) with scrypt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# ~16 MiB and a few tens of ms per hash: slow for an attacker, fine for a login.
_N, _R, _P = 2**14, 8, 1
_SCHEME = "scrypt"
# Refuse stored costs above this before hashing: a tampered hash must not buy a slow login.
_MAX_N = 2**20

UNMATCHABLE_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
"""A well-formed hash no password matches, verified for unknown usernames.

Checking it costs as much as checking a real one, so response time does not
reveal which usernames exist.
"""


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64), safe to store."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join((_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches the stored hash; False for any malformed hash."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCHEME or int(n) > _MAX_N:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
