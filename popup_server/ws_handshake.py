"""How every panel websocket opens, and the codes it may be closed with.

Agent and supervisor sockets open the same way: an ``Origin`` that is neither
this server's own nor an allowed one is refused with HTTP 403 before the
upgrade; the upgrade sets the heartbeat and negotiates no compression (pops
are small and deflate would halve throughput); the first message must be
``{"type": "auth", "token": "..."}`` within the auth timeout, otherwise the
socket is closed with :data:`CLOSE_UNAUTHENTICATED`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from cti.screenpop import POP_SCHEMA_VERSION
from popup_server.auth import InvalidTokenError, TokenClaims, TokenSigner, User
from popup_server.wire import decode, encode

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4001
"""No, a bad or an expired token."""
CLOSE_FORBIDDEN = 4003
"""A valid user asking for what is not theirs (another's extension, the supervisor board)."""
CLOSE_TOO_SLOW = 4008
"""The browser fell so far behind that it must reconnect and resync."""
CLOSE_TOO_MANY = 4029
"""The user already has as many sockets open as allowed."""
_MAX_MESSAGE_BYTES = 64_000


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The browser's address: the peer, or the ``X-Forwarded-For`` hop a trusted proxy added."""
    remote = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and remote in trusted_proxies:
        return forwarded.split(",")[-1].strip()
    return remote


def origin_allowed(request: web.Request, allowed: frozenset[str]) -> bool:
    """True for no ``Origin`` (not a browser), a same-origin page, or an allowed origin.

    Same-origin means the page's ``scheme://host:port`` names this very server
    (the request's ``Host``), which a page on another site cannot claim; behind
    a proxy that rewrites ``Host``, list the public origin in ``allowed``.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == request.host


async def authenticate_socket(
    ws: web.WebSocketResponse, signer: TokenSigner, timeout: float
) -> TokenClaims | None:
    """The claims of the socket's first message ``{"type": "auth", "token": ...}``.

    On anything else (timeout, bad JSON, bad token) the socket is closed with
    4001 and None is returned.
    """
    try:
        message = await ws.receive(timeout=timeout)
    except TimeoutError:
        await ws.close(code=CLOSE_UNAUTHENTICATED, message=b"no auth message in time")
        return None
    if message.type != WSMsgType.TEXT:
        await ws.close(code=CLOSE_UNAUTHENTICATED, message=b"first message must be auth")
        return None
    try:
        data = decode(message.data)
        if not isinstance(data, dict) or data.get("type") != "auth":
            raise InvalidTokenError("first message must be {'type': 'auth', 'token': ...}")
        return signer.verify(data.get("token"))
    except (ValueError, InvalidTokenError) as exc:
        logger.info("websocket auth refused reason=%s", exc)
        await ws.close(code=CLOSE_UNAUTHENTICATED, message=b"authentication failed")
        return None


def hello_message(user: User, **extra: Any) -> dict[str, Any]:
    """The first message on every authenticated panel socket: who is in, and the server's clock.

    ``extra`` adds what one kind of socket says besides (the agent's extensions).
    """
    return {
        "v": POP_SCHEMA_VERSION,
        "type": "hello",
        "user": user.public(),
        **extra,
        "server_time": time.time(),
    }


class SocketGate:
    """Opens panel websockets: origin check, upgrade, first-message authentication."""

    def __init__(
        self,
        signer: TokenSigner,
        allowed_origins: frozenset[str],
        heartbeat: float,
        auth_timeout: float,
        *,
        max_per_user: int = 20,
        max_per_address: int = 1000,
        trusted_proxies: frozenset[str] = frozenset(),
    ) -> None:
        self._signer = signer
        self._allowed_origins = allowed_origins
        self._heartbeat = heartbeat
        self._auth_timeout = auth_timeout
        self._max_per_user = max_per_user
        self._max_per_address = max_per_address
        self._trusted_proxies = trusted_proxies
        self._per_user: Counter[int] = Counter()
        self._per_address: Counter[str] = Counter()

    def open_sockets(self, user_id: int) -> int:
        """Sockets of this user open now (authenticated)."""
        return self._per_user[user_id]

    def guard(
        self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """``handler`` counted per client address (429 before the upgrade beyond the limit)
        and, once :meth:`open` has authenticated it, per user."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            address = client_address(request, self._trusted_proxies)
            if self._per_address[address] >= self._max_per_address:
                logger.warning("websocket refused: too many from address=%s", address)
                raise web.HTTPTooManyRequests(
                    text=encode({"error": "too many sockets from this address"}),
                    content_type="application/json",
                )
            self._per_address[address] += 1
            try:
                return await handler(request)
            finally:
                _release(self._per_address, address)
                user_id = request.get(_USER_ID)
                if user_id is not None:
                    _release(self._per_user, user_id)

        return guarded

    @property
    def signer(self) -> TokenSigner:
        """Verifies the tokens sockets authenticate (and later re-authenticate) with."""
        return self._signer

    async def open(self, request: web.Request) -> tuple[web.WebSocketResponse, TokenClaims | None]:
        """The upgraded socket and its user's claims.

        Raises ``HTTPForbidden`` for an origin not allowed. The claims are None
        when authentication failed; the socket is then already closed.
        """
        if not origin_allowed(request, self._allowed_origins):
            logger.warning(
                "websocket refused: origin not allowed origin=%r peer=%s path=%s",
                request.headers.get("Origin"),
                request.remote,
                request.path,
            )
            raise web.HTTPForbidden(text="origin not allowed")
        ws = web.WebSocketResponse(
            heartbeat=self._heartbeat, compress=False, max_msg_size=_MAX_MESSAGE_BYTES
        )
        await ws.prepare(request)
        claims = await authenticate_socket(ws, self._signer, self._auth_timeout)
        if claims is None:
            return ws, None
        user_id = claims.user.id
        if self._per_user[user_id] >= self._max_per_user:
            logger.warning(
                "websocket refused: user=%s has %d open", claims.user.username, self._max_per_user
            )
            await ws.close(code=CLOSE_TOO_MANY, message=b"too many sockets open for this user")
            return ws, None
        self._per_user[user_id] += 1
        request[_USER_ID] = user_id
        return ws, claims


_USER_ID = web.RequestKey("socket_user_id", int)


def _release(counter: Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
