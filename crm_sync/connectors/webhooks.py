"""Signed webhooks with retries and a dead-letter spool.

Each delivery is a JSON POST carrying ``X-Ctihub-Event``, a unique
``X-Ctihub-Delivery`` id (receivers dedupe on it: a retry after a lost reply
delivers twice), ``X-Ctihub-Timestamp`` and ``X-Ctihub-Signature:
sha256=HEX``, the HMAC-SHA256 of ``"{timestamp}.{body}"`` with the shared
secret. Connection errors, timeouts, 429 and 5xx are retried with capped
exponential backoff and jitter; other 4xx answers are not (the request
itself is wrong). What cannot be delivered goes to the dead-letter spool,
from which :meth:`WebhookSender.redeliver_dead_letters` can retry it later.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from typing import Any

import aiohttp

from crm_sync.spool import JsonlSpool

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Ctihub-Signature"
TIMESTAMP_HEADER = "X-Ctihub-Timestamp"
DELIVERY_HEADER = "X-Ctihub-Delivery"
EVENT_HEADER = "X-Ctihub-Event"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class _Retryable(Exception):
    pass


class WebhookSender:
    """Delivers events to one URL, signed, retried, dead-lettered."""

    def __init__(
        self,
        url: str,
        secret: str,
        dead_letters: JsonlSpool,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 2.0,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self.dead_letters = dead_letters
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._headers = dict(headers or {})

    async def send(self, event: str, data: dict[str, Any], delivery_id: str | None = None) -> bool:
        """Deliver ``data`` as ``event``; True if the receiver took it, False if dead-lettered."""
        delivery_id = delivery_id or uuid.uuid4().hex
        body = json.dumps(
            {"event": event, "delivery": delivery_id, "data": data},
            ensure_ascii=False,
            separators=(",", ":"),
            default=str,
        ).encode()
        last_error = "not attempted"
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._post(event, delivery_id, body)
                return True
            except _Retryable as exc:
                last_error = str(exc)
            except _Rejected as exc:
                last_error = str(exc)
                break
            if attempt < self._max_attempts:
                delay = min(self._max_delay, self._base_delay * 2 ** (attempt - 1))
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
        log.warning(
            "webhook dead-lettered event=%s delivery=%s error=%s", event, delivery_id, last_error
        )
        await self.dead_letters.append(
            {"event": event, "delivery": delivery_id, "data": data, "error": last_error}
        )
        return False

    async def redeliver_dead_letters(self) -> int:
        """Try every dead letter once more (each with the full retry budget); returns delivered."""
        delivered = 0
        retry = JsonlSpool(self.dead_letters.path.with_name(self.dead_letters.path.name + ".retry"))

        async def one(record: dict[str, Any]) -> None:
            nonlocal delivered
            # send() dead-letters failures itself, into a side file merged back below.
            sender = self._with_dead_letters(retry)
            if await sender.send(record["event"], record["data"], record["delivery"]):
                delivered += 1

        await self.dead_letters.drain(one)
        await retry.drain(self.dead_letters.append)
        return delivered

    async def close(self) -> None:
        """Close the HTTP session if this sender opened it."""
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None

    def _with_dead_letters(self, spool: JsonlSpool) -> WebhookSender:
        clone = WebhookSender(
            self.url,
            self._secret,
            spool,
            session=self._client(),
            max_attempts=self._max_attempts,
            base_delay=self._base_delay,
            max_delay=self._max_delay,
            headers=self._headers,
        )
        clone._timeout = self._timeout
        return clone

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _post(self, event: str, delivery_id: str, body: bytes) -> None:
        timestamp = str(int(time.time()))
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            async with self._client().post(
                self.url, data=body, headers=headers, timeout=self._timeout
            ) as response:
                if response.status < 300:
                    return
                if response.status == 429 or response.status >= 500:
                    raise _Retryable(f"HTTP {response.status}")
                raise _Rejected(f"HTTP {response.status} (not retried)")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc


class _Rejected(Exception):
    pass
