"""Tokens and login throttling, without a server."""

from __future__ import annotations

import pytest

from popup_server.auth import (
    InvalidTokenError,
    LoginRateLimiter,
    TokenSigner,
    User,
)

ALI = User(1, "ali", "Ali Rezaei", "agent", ("1001",), "fa")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_token_round_trip_keeps_user_and_extensions() -> None:
    signer = TokenSigner(b"k" * 32, 600, clock=Clock(1_000_000.0))
    token, expires_at = signer.issue(ALI)
    assert expires_at == 1_000_600
    claims = signer.verify(token)
    assert claims.user == ALI


def test_token_signed_with_another_key_is_refused() -> None:
    token, _ = TokenSigner(b"a" * 32, 600).issue(ALI)
    with pytest.raises(InvalidTokenError, match="signature does not match"):
        TokenSigner(b"b" * 32, 600).verify(token)


def test_token_with_edited_extensions_is_refused() -> None:
    signer = TokenSigner(b"k" * 32, 600)
    token, _ = signer.issue(ALI)
    version, _payload, signature = token.split(".")
    other, _ = signer.issue(User(2, "sara", "Sara", "agent", ("1002",)))
    # Splice sara's payload onto ali's signature: the HMAC no longer matches.
    with pytest.raises(InvalidTokenError):
        signer.verify(f"{version}.{other.split('.')[1]}.{signature}")


def test_expired_token_is_refused() -> None:
    clock = Clock(1_000_000.0)
    signer = TokenSigner(b"k" * 32, 60, clock=clock)
    token, _ = signer.issue(ALI)
    clock.now += 61
    with pytest.raises(InvalidTokenError, match="expired"):
        signer.verify(token)


@pytest.mark.parametrize("token", [None, "", "garbage", "v1.x.y", "v2.abc.def"])
def test_malformed_tokens_are_refused(token: str | None) -> None:
    with pytest.raises(InvalidTokenError):
        TokenSigner(b"k" * 32, 60).verify(token)


def test_short_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenSigner(b"short", 60)


def test_rate_limiter_blocks_one_username_and_address_after_max_failures() -> None:
    clock = Clock(0.0)
    limiter = LoginRateLimiter(3, 300.0, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("ali", "10.0.0.1") == 0
        limiter.failed("ali", "10.0.0.1")
    assert limiter.retry_after("ali", "10.0.0.1") == pytest.approx(300.0)
    assert limiter.retry_after("ALI", "10.0.0.1") > 0  # usernames are case-insensitive
    assert limiter.retry_after("ali", "10.0.0.2") == 0
    assert limiter.retry_after("sara", "10.0.0.1") == 0
    clock.now = 301.0
    assert limiter.retry_after("ali", "10.0.0.1") == 0
