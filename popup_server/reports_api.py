"""Reports for supervisors: the page (``/reports``) and the figures (REST, JSON or CSV).

``GET /api/v1/reports/{kind}?from=YYYY-MM-DD&to=YYYY-MM-DD`` with ``kind``
``queues``, ``teams``, ``agents`` or ``calls`` (per day, or per ``interval=15|30|60``
minutes), optional ``queue=`` (repeatable) and ``format=csv``. Days are the
call center's (``[figures] timezone``), both ends included. The figures are
those of ``ctihub report`` (:class:`cti.report_table.ReportTable`).
Supervisors and admins only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from popup_server.api import error_response
from popup_server.auth import User
from popup_server.ports import ReportQuery, Reports
from popup_server.wire import json_response

logger = logging.getLogger(__name__)

PAGE_PATH = Path(__file__).with_name("static") / "reports.html"
KINDS = ("queues", "teams", "agents", "calls")
MAX_QUEUES = 50


def _date(raw: str | None, name: str) -> dt.date:
    if raw is None:
        raise ValueError(f"{name}: required, as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name}: not a date (YYYY-MM-DD): {raw[:20]!r}") from None


def parse_query(kind: str, query: dict[str, str], queues: list[str]) -> ReportQuery:
    """The report asked for; :class:`ValueError` names the bad field."""
    if kind not in KINDS:
        raise ValueError(f"kind: one of {', '.join(KINDS)}")
    first, last = _date(query.get("from"), "from"), _date(query.get("to"), "to")
    interval: int | None = None
    if "interval" in query:
        if kind != "calls" or query["interval"] not in ("15", "30", "60"):
            raise ValueError("interval: 15, 30 or 60, for the calls report only")
        interval = int(query["interval"])
    if len(queues) > MAX_QUEUES or any(not q or len(q) > 64 for q in queues):
        raise ValueError(f"queue: at most {MAX_QUEUES} names of 1 to 64 characters")
    fmt = query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValueError("format: json or csv")
    return ReportQuery(kind, first, last, interval, tuple(queues), fmt == "csv")


class ReportsApi:
    """The reports page and ``/api/v1/reports/{kind}``."""

    def __init__(
        self, authenticate: Callable[[web.Request], User], reports: Reports | None
    ) -> None:
        self._authenticate = authenticate
        self._reports = reports

    def routes(self) -> list[web.RouteDef]:
        """The page and the report route."""
        return [
            web.get("/reports", self.page),
            web.get("/api/v1/reports/{kind}", self.report),
        ]

    async def page(self, request: web.Request) -> web.FileResponse:
        # Public like the other pages; its data needs a supervisor token.
        return web.FileResponse(PAGE_PATH)

    async def report(self, request: web.Request) -> web.Response:
        """One report as JSON (``{kind, from, to, standard, rows}``) or CSV."""
        user = self._authenticate(request)
        if not user.can_supervise:
            return error_response(403, "only supervisors and admins see reports")
        try:
            query = parse_query(
                request.match_info["kind"], dict(request.query), request.query.getall("queue", [])
            )
        except ValueError as exc:
            return error_response(400, str(exc))
        if self._reports is None:
            return error_response(503, "reports need the CRM database")
        try:
            table = await self._reports.table(query)
        except ValueError as exc:  # the range itself: to before from, over a year
            return error_response(400, str(exc))
        logger.info(
            "report user=%s kind=%s from=%s to=%s",
            user.username,
            query.kind,
            query.first,
            query.last,
        )
        if query.csv:
            name = f"ctihub-{query.kind}-{query.first}-{query.last}.csv"
            return web.Response(
                text=table.to_csv(),
                content_type="text/csv",
                charset="utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return json_response(table.to_json())
