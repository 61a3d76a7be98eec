"""What the PBX's classic-AGI IVR script (``ctihub-agi``) asks the hub, over HTTP.

For PBXes that cannot reach the hub's FastAGI port, ``pbx_adapters.agi_script``
runs on the PBX box and asks these two questions; it then sets the same
channel variables as the FastAGI scripts (see ``pbx_adapters/ivr.py``):

- ``GET /api/v1/ivr/contract?caller=NUMBER`` → ``{"state": "active"}``
  (``active``, ``expiring``, ``expired``, ``none``);
- ``GET /api/v1/ivr/case?code=DIGITS`` → ``{"well_formed": true, "case":
  {"code", "status", "owner_extension"} | null}``.

The caller is the PBX, not a person: it authenticates with the shared
``[http] ivr_token`` as ``Authorization: Bearer <token>``, compared in
constant time by :func:`ivr_caller_allowed`, the one place to swap for scoped
API tokens. Without a configured token the routes answer 403.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re

from aiohttp import web

from popup_server.api import error_response
from popup_server.ports import IvrDecisions

logger = logging.getLogger(__name__)

_CALLER_RE = re.compile(r"^[\w+*#.\- ]{0,64}$")
_CODE_RE = re.compile(r"^[0-9]{1,16}$")


def ivr_caller_allowed(request: web.Request, token: str) -> bool:
    """Whether ``request`` carries the IVR's bearer token (never true when none is set)."""
    if not token:
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


class IvrApi:
    """The two IVR routes; ``decisions`` None (no CRM) answers 503."""

    def __init__(self, decisions: IvrDecisions | None, token: str, timeout: float) -> None:
        self._decisions = decisions
        self._token = token
        self._timeout = timeout

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v1/ivr/contract", self.contract),
            web.get("/api/v1/ivr/case", self.case),
        ]

    def _refusal(self, request: web.Request) -> web.Response | None:
        if not self._token:
            return error_response(403, "the IVR API is off: set [http] ivr_token to enable it")
        if not ivr_caller_allowed(request, self._token):
            logger.warning(
                "IVR API refused a request without the IVR token peer=%s", request.remote
            )
            return error_response(
                401, "missing or wrong IVR token", **{"WWW-Authenticate": "Bearer"}
            )
        if self._decisions is None:
            return error_response(503, "no CRM behind this hub node")
        return None

    async def contract(self, request: web.Request) -> web.Response:
        """The support-contract state of ``caller``."""
        refused = self._refusal(request)
        if refused is not None:
            return refused
        assert self._decisions is not None
        caller = request.query.get("caller")
        if caller is None or not _CALLER_RE.match(caller):
            return error_response(400, "caller: expected the caller ID, at most 64 characters")
        try:
            async with asyncio.timeout(self._timeout):
                state = (await self._decisions.caller_profile(caller)).contract
        except TimeoutError:
            logger.warning("IVR contract lookup timed out timeout=%s", self._timeout)
            return error_response(504, "the CRM did not answer in time")
        return web.json_response({"state": state})

    async def case(self, request: web.Request) -> web.Response:
        """Whether ``code`` is a well-formed tracking code, and the case it names."""
        refused = self._refusal(request)
        if refused is not None:
            return refused
        assert self._decisions is not None
        code = request.query.get("code")
        if code is None or not _CODE_RE.match(code):
            return error_response(400, "code: expected 1 to 16 digits")
        if not self._decisions.is_well_formed(code):
            return web.json_response({"well_formed": False, "case": None})
        try:
            async with asyncio.timeout(self._timeout):
                found = await self._decisions.case_by_code(code)
        except TimeoutError:
            logger.warning("IVR case lookup timed out timeout=%s", self._timeout)
            return error_response(504, "the CRM did not answer in time")
        case = (
            None
            if found is None
            else {
                "code": found.code,
                "status": found.status,
                "owner_extension": found.owner_extension,
            }
        )
        return web.json_response({"well_formed": True, "case": case})
