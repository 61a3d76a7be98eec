"""API tokens of integrations (``Authorization: Bearer cth_…``) on the REST API, by scope.

An integration's token acts as the person it was issued for, but only on the
routes its scopes open: ``calls:read`` the calls routes (GET), ``cases:write``
opening and linking cases and wrap-up notes, ``lookups`` the phonebook. Every
other route (admin, PBX actions, the supervisor's figures, recordings) answers
403 to a token, whatever its person may do in a browser. A revoked token, or
one of a disabled person, answers 401 at once (it is checked on every request).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from popup_server.auth import User
from popup_server.ports import ApiTokenVerifier
from popup_server.wire import encode

TOKEN_PREFIX = "cth_"
API_USER_KEY = web.RequestKey("api_user", User)
"""Where the middleware leaves the token's user for :meth:`popup_server.api.Api.user`."""

_SCOPES: tuple[tuple[str, re.Pattern[str], str | None], ...] = (
    ("GET", re.compile(r"^/api/v1/me$"), None),
    ("GET", re.compile(r"^/api/v1/calls/(current|today|[\w.-]{1,64})$"), "calls:read"),
    ("POST", re.compile(r"^/api/v1/cases$"), "cases:write"),
    ("POST", re.compile(r"^/api/v1/calls/[\w.-]{1,64}/(case|wrapup)$"), "cases:write"),
    ("GET", re.compile(r"^/api/v1/dispositions$"), "cases:write"),
    ("GET", re.compile(r"^/api/v1/phonebook$"), "lookups"),
)


def _json_error(status: int, message: str) -> web.Response:
    return web.Response(
        text=encode({"error": message}),
        status=status,
        content_type="application/json",
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


def token_middleware(verifier: ApiTokenVerifier | None) -> Middleware:
    """The aiohttp middleware; without a verifier, API tokens are refused (401)."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer " + TOKEN_PREFIX):
            return await handler(request)
        grant = await verifier.verify(header[7:]) if verifier is not None else None
        if grant is None:
            return _json_error(401, "unauthenticated: unknown or revoked API token")
        for method, path, scope in _SCOPES:
            if request.method == method and path.match(request.path):
                if scope is not None and scope not in grant.scopes:
                    return _json_error(403, f"this API token lacks the {scope} scope")
                request[API_USER_KEY] = grant.user
                return await handler(request)
        return _json_error(403, "API tokens may not use this route")

    return middleware
