"""PBX actions asked of a node without the AMI link, carried to the node that holds it.

With several nodes only the lease holder talks to the PBX, but an agent's
panel may be connected to any node. A panel action there (click-to-call,
pause, transfers, supervisor actions) is put on a Redis list; the holder
takes each request off it (``BRPOP``: exactly one holder gets it), performs
it and pushes the result to the request's own reply key, which the asking
node waits on.

At most once, never twice:

- a request is taken by one holder only, and never put back;
- the asker waits ``timeout`` seconds; if no answer comes (no holder, or the
  holder died holding the request) it reports that the action may or may
  not have happened, and does not retry;
- a holder drops a request whose asker has given up (its deadline passed),
  so a click-to-call is never dialled a minute after the agent was told it
  failed. Deadlines are wall-clock times: the nodes' clocks must agree to
  well under a second (NTP).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from popup_server.ports import PbxActionError

log = logging.getLogger(__name__)

Perform = Callable[[str, dict[str, Any]], Awaitable[None]]

REPLY_TTL_SECONDS = 60
MAX_CONCURRENT = 8


class ActionRelay:
    """Both ends of the relay: :meth:`ask` on any node, :meth:`serve` on the holder."""

    def __init__(self, url: str, *, key_prefix: str, node_id: str, timeout: float = 15.0) -> None:
        self._client: Redis = Redis.from_url(url, socket_connect_timeout=5)
        self._requests = f"{key_prefix}actions"
        self._reply_prefix = f"{key_prefix}action-reply:"
        self._node = node_id
        self._timeout = timeout
        self.served = 0

    async def ask(self, name: str, args: dict[str, Any]) -> None:
        """Have the holder perform ``name(**args)``; raise :class:`PbxActionError` as it did."""
        request_id = uuid.uuid4().hex
        reply_key = self._reply_prefix + request_id
        request = {
            "id": request_id,
            "name": name,
            "args": args,
            "reply": reply_key,
            "deadline": time.time() + self._timeout,
            "from": self._node,
        }
        try:
            await self._client.lpush(self._requests, json.dumps(request))
            # The reply key is the asker's own: one BLPOP, no polling.
            reply = await self._client.blpop([reply_key], timeout=self._timeout)
        except (RedisError, OSError) as exc:
            raise PbxActionError(
                f"could not reach the node holding the PBX link: {type(exc).__name__}"
            ) from exc
        if reply is None:
            log.warning("pbx action unanswered action=%s request=%s", name, request_id)
            raise PbxActionError(
                "the node holding the PBX link did not answer in time; "
                "the action may or may not have happened"
            )
        answer = json.loads(reply[1])
        if answer.get("error"):
            raise PbxActionError(str(answer["error"]))

    async def serve(self, perform: Perform) -> None:
        """On the holder, until cancelled: take each request once, perform it, answer."""
        running: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(MAX_CONCURRENT)
        try:
            while True:
                try:
                    item = await self._client.brpop([self._requests], timeout=1)
                except (RedisError, OSError) as exc:
                    log.warning("pbx action relay cannot read requests error=%s", exc)
                    await asyncio.sleep(1)
                    continue
                if item is None:
                    continue
                await slots.acquire()
                task = asyncio.create_task(self._handle(item[1], perform))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def close(self) -> None:
        await self._client.aclose()

    async def _handle(self, raw: bytes | str, perform: Perform) -> None:
        try:
            request = json.loads(raw)
            name, args, reply = str(request["name"]), dict(request["args"]), str(request["reply"])
            deadline = float(request["deadline"])
        except (ValueError, KeyError, TypeError) as exc:
            log.error("pbx action relay dropped a malformed request error=%s", exc)
            return
        if not reply.startswith(self._reply_prefix):
            log.error("pbx action relay dropped a request with a foreign reply key")
            return
        if time.time() > deadline:
            log.warning(
                "pbx action dropped: its asker gave up action=%s from=%s",
                name,
                request.get("from"),
            )
            return
        error: str | None = None
        try:
            async with asyncio.timeout(max(0.1, deadline - time.time())):
                await perform(name, args)
        except PbxActionError as exc:
            error = str(exc)
        except TimeoutError:
            error = "the PBX did not answer in time; the action may or may not have happened"
        except Exception:
            log.exception("pbx action failed action=%s", name)
            error = "the PBX action failed"
        self.served += 1
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.lpush(reply, json.dumps({"error": error}))
            pipe.expire(reply, REPLY_TTL_SECONDS)
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("pbx action done but its answer was lost action=%s error=%s", name, exc)


__all__ = ["ActionRelay"]
