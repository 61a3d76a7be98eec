"""``/healthz``, ``/readyz`` and ``/metrics``: for load balancers, orchestrators and Prometheus.

Who may read them, and why:

- ``/healthz`` (live: the process answers) and ``/readyz`` (ready: the AMI
  link, the database, the bus and every durable consumer are fine) are open
  on purpose: load balancers and orchestrators probe without credentials.
  They say only ``ok`` or which named checks failed, never an error text,
  an address or a figure.
- ``/metrics`` carries figures about the call center (calls, logins,
  sockets), so it answers only a scraper on a trusted network
  (``http.metrics_allowed``, loopback by default) that came directly, or
  one that presents ``Authorization: Bearer <http.metrics_token>``. A
  request that came through a reverse proxy (``Forwarded`` or
  ``X-Forwarded-For`` present) is not "direct", whatever its peer address:
  a proxy on the same host must not turn the whole Internet into loopback.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from aiohttp import web

from popup_server.api import error_response
from popup_server.ports import HubHealth

_NO_STORE = {"Cache-Control": "no-store"}


class HealthApi:
    """The three routes over the hub's :class:`~popup_server.ports.HubHealth`."""

    def __init__(
        self, health: HubHealth, *, metrics_allowed: Iterable[str], metrics_token: str
    ) -> None:
        self._health = health
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in metrics_allowed]
        self._token = metrics_token.encode()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
            web.get("/metrics", self.metrics),
        ]

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers=_NO_STORE)

    async def readyz(self, request: web.Request) -> web.Response:
        checks = await self._health.readiness()
        ready = all(checks.values())
        body = {"ready": ready, "failing": sorted(name for name, ok in checks.items() if not ok)}
        return web.json_response(body, status=200 if ready else 503, headers=_NO_STORE)

    async def metrics(self, request: web.Request) -> web.Response:
        if not self._may_scrape(request):
            return error_response(
                403, "metrics are for a trusted scraper: a metrics_allowed address or the token"
            )
        body, content_type = self._health.metrics()
        response = web.Response(body=body, headers=_NO_STORE)
        response.headers["Content-Type"] = content_type
        return response

    def _may_scrape(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self._token and header.startswith("Bearer "):
            return hmac.compare_digest(header[7:].strip().encode(), self._token)
        if "Forwarded" in request.headers or "X-Forwarded-For" in request.headers:
            return False
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(peer in network for network in self._allowed)


__all__ = ["HealthApi"]
