"""The panel server's aiohttp application: static panel, agent and supervisor websockets, REST API.

:func:`create_app` builds it from the ``[http]`` configuration and the hub's
parts; :func:`start_server` runs it on a socket. When given a bus, the app
owns a :class:`~popup_server.pop_feed.PopFeed` task for its lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from cti.bus import EventBus
from cti.figures import TargetBook
from cti.live_board import LiveBoard
from cti.screenpop import ScreenPops
from cti.settings import FiguresConfig
from popup_server.admin_api import AdminApi
from popup_server.alerts_api import AlertsApi
from popup_server.api import Api, ApiServices
from popup_server.auth import FailureCounter, LoginRateLimiter, PasswordChecks, TokenSigner
from popup_server.call_control_api import CallControlApi
from popup_server.callbacks_api import CallbacksApi
from popup_server.calllists_api import CallListsApi
from popup_server.customers_api import CustomersApi
from popup_server.health_api import HealthApi
from popup_server.history_api import HistoryApi
from popup_server.intervention_api import InterventionApi
from popup_server.ivr_api import IvrApi
from popup_server.pop_feed import PopFeed
from popup_server.ports import HubHealth, HubStatus, PanelBackends
from popup_server.recordings_api import RecordingsApi
from popup_server.reports_api import ReportsApi
from popup_server.settings import PopupConfig
from popup_server.supervisor_api import SupervisorApi
from popup_server.token_auth import token_middleware
from popup_server.ws_agent import AgentHub, AgentSocketHandler
from popup_server.ws_handshake import SocketGate
from popup_server.ws_supervisor import SupervisorHub, SupervisorSocketHandler

__all__ = ["FEED_KEY", "HUB_KEY", "SIGNER_KEY", "PanelBackends", "create_app", "start_server"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")

HUB_KEY = web.AppKey("hub", AgentHub)
FEED_KEY = web.AppKey("feed", PopFeed)
SIGNER_KEY = web.AppKey("signer", TokenSigner)
SUPERVISORS_KEY = web.AppKey("supervisors", SupervisorHub)

_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def allowed_origins(config: PopupConfig) -> frozenset[str]:
    """The public URL's origin plus the configured extra origins."""
    parts = urlsplit(config.public_url)
    origins = {f"{parts.scheme}://{parts.netloc}"} if parts.scheme and parts.netloc else set()
    origins |= {o.rstrip("/") for o in config.allowed_origins}
    return frozenset(origins)


def _token_key(config: PopupConfig) -> bytes:
    secret = config.secret_key.get_secret_value()
    if secret:
        return secret.encode()
    logger.warning("http.secret_key is empty: using a random key; logins end at restart")
    return secrets.token_bytes(32)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # On every response as it is sent, errors (404s of unknown paths, 400s raised in
    # handlers, 500s) included; the Server header names no software or versions.
    response.headers["Server"] = "ctihub"
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


def create_app(
    config: PopupConfig,
    backends: PanelBackends,
    *,
    bus: EventBus | None = None,
    pops: ScreenPops | None = None,
    feed_name: str = "popup",
    status: HubStatus | None = None,
    figures: FiguresConfig | None = None,
    health: HubHealth | None = None,
) -> web.Application:
    """The panel application; with ``bus``, it pops for every ring published on it.

    ``feed_name`` names this server's bus subscription; with several hub nodes
    on one Redis bus give each its own (``"<node>/popup"``). ``figures``: how
    the live board counts (``[figures]``).
    """
    figures = figures or FiguresConfig()
    pops = pops or ScreenPops()
    hub = AgentHub(pops)
    signer = TokenSigner(_token_key(config), config.token_ttl_seconds)
    origins = allowed_origins(config)
    app = web.Application(
        client_max_size=256 * 1024, middlewares=[token_middleware(backends.api_tokens)]
    )
    app.on_response_prepare.append(_security_headers)
    app[HUB_KEY] = hub
    app[SIGNER_KEY] = signer
    api = Api(
        ApiServices(
            backends=backends,
            signer=signer,
            limiter=LoginRateLimiter(
                config.login_max_failures,
                config.login_window_seconds,
                per_username=config.login_max_failures_per_username,
                per_address=config.login_max_failures_per_address,
                overall=config.login_max_failures_overall,
            ),
            passwords=PasswordChecks(
                backends.users, config.login_hash_concurrency, config.login_waiting_max
            ),
            code_tries=FailureCounter(config.tracking_code_tries, config.login_window_seconds),
            hub=hub,
            trusted_proxies=frozenset(config.trusted_proxies),
            status=status,
        )
    )
    app.add_routes(api.routes())
    supervisors = SupervisorHub(
        LiveBoard(figures.zone, TargetBook(figures.targets()), figures.kind),
        backends.figures,
        lookup=backends.lookup,
    )
    app.add_routes(SupervisorApi(api.user, supervisors).routes())
    app.add_routes(ReportsApi(api.user, backends.reports).routes())
    app.add_routes(
        InterventionApi(
            api.user,
            supervisors,
            backends.intervention,
            backends.audit,
            config.intervention_roles,
        ).routes()
    )
    ivr_token = config.ivr_token.get_secret_value()
    app.add_routes(IvrApi(backends.ivr, ivr_token, config.ivr_timeout_seconds).routes())
    app.add_routes(AdminApi(api.user, backends.admin, signer, hub, supervisors).routes())
    app.add_routes(RecordingsApi(api.user, backends.recordings, hub.pops).routes())
    app.add_routes(CallControlApi(api.user, hub.pops, backends.pbx, config).routes())
    if backends.calls is not None:
        app.add_routes(HistoryApi(api.user, backends.calls, hub.pops).routes())
    if backends.customers is not None:
        app.add_routes(CustomersApi(api.user, backends.customers).routes())
    app.add_routes(AlertsApi(api.user, backends.alerts, backends.audit).routes())
    board = supervisors.board

    def queues_of(extensions: tuple[str, ...]) -> tuple[str, ...]:
        # The queues these extensions are members of now: callbacks and lists go by them.
        return tuple(sorted({q for x in extensions for q in board.members.get(x, {})}))

    app.add_routes(CallbacksApi(api.user, backends.callbacks, backends.pbx, queues_of).routes())
    app.add_routes(
        CallListsApi(
            api.user, backends.call_lists, backends.pbx, queues_of, backends.audit
        ).routes()
    )
    if health is not None:
        health_api = HealthApi(
            health,
            metrics_allowed=config.metrics_allowed,
            metrics_token=config.metrics_token.get_secret_value(),
        )
        app.add_routes(health_api.routes())
    gate = SocketGate(
        signer,
        origins,
        config.heartbeat_seconds,
        config.auth_timeout_seconds,
        max_per_user=config.ws_max_per_user,
        max_per_address=config.ws_max_per_address,
        trusted_proxies=frozenset(config.trusted_proxies),
    )
    sockets = AgentSocketHandler(hub, gate, config.ws_queue_bytes)
    app.router.add_get("/ws/agent", gate.guard(sockets.handle))
    app[SUPERVISORS_KEY] = supervisors
    supervisor_sockets = SupervisorSocketHandler(supervisors, gate)
    app.router.add_get("/ws/supervisor", gate.guard(supervisor_sockets.handle))

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)

    if bus is not None:
        feed = PopFeed(bus, hub, backends.lookup, supervisors, name=feed_name)
        app[FEED_KEY] = feed

        async def run_feed(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(feed.run(), name="pop-feed")
            await feed.wait_started()
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(run_feed)

    async def close_sockets(app: web.Application) -> None:
        await hub.close_all()
        await supervisors.close()

    app.on_shutdown.append(close_sockets)
    return app


async def start_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: any free port); returns the runner and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    logger.info("panel server listening host=%s port=%s", host, bound)
    return runner, int(bound)
