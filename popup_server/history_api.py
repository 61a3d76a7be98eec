"""``GET /api/v1/history``: search the call log by number, name, date range, queue
and disposition. An agent sees the calls they answered and the missed calls of their own
queues; supervisors and admins see everyone's."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable

from aiohttp import web

from cti.screenpop import ScreenPops
from popup_server.api import error_response
from popup_server.auth import User
from popup_server.ports import DISPOSITIONS, CallSearch, HistoryQuery

_QUEUE_RE = re.compile(r"^[\w.-]{1,64}$")
_CALL_DISPOSITIONS = ("answered", "missed", "abandoned", "busy", "failed", "ivr")
MAX_RANGE = dt.timedelta(days=366)


def _epoch(raw: str | None, field: str) -> dt.datetime | None:
    if raw is None or raw == "":
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{field} must be epoch seconds") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= 4_102_444_800:
        raise ValueError(f"{field} must be epoch seconds")
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class HistoryApi:
    """The history route; ``user_of`` is the REST API's bearer-token check (401)."""

    def __init__(
        self, user_of: Callable[[web.Request], User], calls: CallSearch, pops: ScreenPops
    ) -> None:
        self._user_of = user_of
        self._calls = calls
        self._pops = pops

    def routes(self) -> list[web.RouteDef]:
        """The ``/api/v1`` route of the call history."""
        return [web.get("/api/v1/history", self.history)]

    async def history(self, request: web.Request) -> web.Response:
        user = self._user_of(request)
        q = request.query
        try:
            since = _epoch(q.get("from"), "from")
            until = _epoch(q.get("to"), "to")
        except ValueError as exc:
            return error_response(400, str(exc))
        now = dt.datetime.fromtimestamp(time.time(), dt.UTC)
        since = since or now.replace(hour=0, minute=0, second=0, microsecond=0)
        if until is not None and until <= since:
            return error_response(400, "to must be after from")
        if (until or now) - since > MAX_RANGE:
            return error_response(400, "from and to may span at most 366 days")
        text = q.get("q", "").strip()
        if len(text) > 100:
            return error_response(400, "q must be at most 100 characters")
        queue = q.get("queue") or None
        if queue is not None and not _QUEUE_RE.match(queue):
            return error_response(400, "queue must be a queue name")
        disposition = q.get("disposition") or None
        allowed = {f"call:{d}" for d in _CALL_DISPOSITIONS} | set(DISPOSITIONS)
        if disposition is not None and disposition not in allowed:
            return error_response(
                400, "disposition must be call:<answered|missed|…> or an outcome code"
            )
        try:
            limit = min(max(int(q.get("limit", "200")), 1), 500)
        except ValueError:
            return error_response(400, "limit must be an integer")
        everyone = user.role in ("supervisor", "admin")
        extensions = None if everyone else user.extensions
        queues: list[str] = []
        if not everyone:
            for extension in user.extensions:
                queues.extend(self._pops.member_queues(extension))
        calls = await self._calls.find_calls(
            HistoryQuery(
                since=since,
                until=until,
                extensions=extensions,
                missed_queues=tuple(sorted(set(queues))),
                text=text,
                queue=queue,
                disposition=disposition,
                missed_only=q.get("missed") in ("1", "true"),
                limit=limit,
            )
        )
        return web.json_response({"calls": calls})
