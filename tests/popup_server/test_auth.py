"""Tokens and login throttling, without a server."""

from __future__ import annotations

import pytest

from popup_server.auth import (
    FailureCounter,
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
        limiter.attempt("ali", "10.0.0.1")
    assert limiter.retry_after("ali", "10.0.0.1") == pytest.approx(300.0)
    assert limiter.retry_after("ALI", "10.0.0.1") > 0  # usernames are case-insensitive
    assert limiter.retry_after("ali", "10.0.0.2") == 0
    assert limiter.retry_after("sara", "10.0.0.1") == 0
    clock.now = 301.0
    assert limiter.retry_after("ali", "10.0.0.1") == 0


def test_limiter_counts_per_username_per_address_and_overall() -> None:
    clock = Clock(0.0)
    limiter = LoginRateLimiter(100, 60.0, per_username=3, per_address=5, overall=8, clock=clock)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        limiter.attempt("ali", address)
    assert limiter.retry_after("ali", "10.0.0.9") == pytest.approx(60.0)  # ali, any address
    assert limiter.retry_after("sara", "10.0.0.1") == 0
    for n in range(5):
        limiter.attempt(f"user{n}", "10.0.0.7")
    assert limiter.retry_after("sara", "10.0.0.7") > 0  # the address, any username
    assert limiter.retry_after("sara", "10.0.0.8") > 0  # eight failures in all: everyone waits
    clock.now = 61.0
    assert limiter.retry_after("sara", "10.0.0.8") == 0


def test_a_success_takes_its_attempt_back() -> None:
    limiter = LoginRateLimiter(3, 60.0, per_address=2, clock=Clock(0.0))
    for _ in range(5):
        limiter.attempt("ali", "10.0.0.1")
        limiter.succeeded("ali", "10.0.0.1")
    assert limiter.retry_after("sara", "10.0.0.1") == 0
    assert limiter.remembered == 0


def test_a_spray_of_usernames_and_addresses_keeps_memory_bounded() -> None:
    limiter = LoginRateLimiter(5, 300.0, overall=10**6, max_keys=1000, clock=Clock(0.0))
    for n in range(50_000):
        limiter.attempt(f"user{n}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert limiter.remembered <= 3 * 1000 + 1
    counter = FailureCounter(3, 60.0, max_keys=10)
    for n in range(100):
        counter.add(str(n))
    assert len(counter) == 10
    assert counter.retry_after("99") == 0 and counter.retry_after("0") == 0
