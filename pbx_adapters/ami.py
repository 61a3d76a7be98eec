"""The AMI link: one TCP (or TLS) connection to Asterisk, kept up by itself.

Built on the sans-I/O codec :mod:`cti.ami_codec` with an ``asyncio.Protocol``
whose ``data_received`` feeds :class:`~cti.ami_codec.AmiParser` directly.
panoramisk's ``Manager`` is deliberately not used for AMI (it is kept for
FastAGI): it reconnects after a fixed 2 s, never checks that its pings are
answered, re-sends unsent actions after a reconnect (a click-to-call can be
dialled twice), runs coroutine callbacks in no guaranteed order, writes
actions without refusing CR/LF (``Action.__str__`` lets a value inject a second
action), and parses about 44k events/s.

What this link promises:

- every message read reaches ``on_message(message, at)`` synchronously, in
  arrival order, one at a time (no task per event);
- it logs in (plain or MD5 challenge), asks for events, waits for
  ``FullyBooted`` and only then calls itself ready;
- it reconnects by itself with exponential backoff and jitter, drops a
  half-open link whose ``Ping`` goes unanswered, and retries a refused login
  only every ``auth_failure_delay`` after logging it once;
- an action is sent at most once: never queued while disconnected
  (:class:`NotConnected`), never re-sent after a reconnect, and reported as
  :class:`ActionUncertain` when the link drops before its response.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import itertools
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cti.ami_codec import AmiParser, Message, encode_action
from pbx_adapters import ami_diagnosis
from pbx_adapters.settings import AmiConfig

log = logging.getLogger(__name__)

Headers = Mapping[str, str] | Iterable[tuple[str, str]]
"""Action headers: a mapping, or pairs when a header repeats (``Variable``)."""

OnMessage = Callable[[Message, float], None]

LINK_EVENTS: frozenset[str] = frozenset(
    {
        "FullyBooted",
        "Shutdown",
        "OriginateResponse",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
        "QueueParams",
        "QueueMember",
        "QueueEntry",
        "QueueStatusComplete",
        "QueueSummary",
        "QueueSummaryComplete",
        "Status",
        "StatusComplete",
        # The PBX import's lists (PJSIPShowEndpoints, SIPpeers, IAXpeerlist).
        "EndpointList",
        "EndpointListComplete",
        "PeerEntry",
        "PeerlistComplete",
    }
)
"""Events the link itself needs; always added to a caller's ``wanted_events``."""


class AmiError(Exception):
    """Base of the errors the AMI link raises."""


class NotConnected(AmiError):
    """The link is not logged in; the action was not sent (nothing is queued)."""


class ActionUncertain(AmiError):
    """The action was written but no answer came: it may or may not have reached the PBX.

    Never retried by the link. For an Originate, check the PBX before dialling again.
    """


class ActionTimeout(ActionUncertain):
    """No response (or no end of list) within the deadline."""


class ActionFailed(AmiError):
    """The PBX answered ``Response: Error``."""

    def __init__(self, action: str, response: Message) -> None:
        self.action = action
        self.response = response
        reason = response.get("Message", "no message")
        super().__init__(f"PBX refused action {action}: {reason}")


class AuthenticationFailed(AmiError):
    """The PBX refused our login (wrong username or secret, or address not permitted)."""


class LinkState(enum.Enum):
    """Where the link is in its life."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    LOGGING_IN = "logging_in"
    READY = "ready"
    WAITING = "waiting"  # disconnected, waiting before the next attempt


@dataclass(slots=True)
class _Pending:
    """One action written and waiting for its answer."""

    action: str
    response: asyncio.Future[Message]
    items: list[Message] | None = None  # set for event-list queries
    done: asyncio.Future[list[Message]] | None = None


@dataclass(slots=True)
class LinkStats:
    """Counters for health pages and logs."""

    connects: int = 0
    logins: int = 0
    auth_failures: int = 0
    pings_missed: int = 0
    messages: int = 0
    callback_errors: int = 0
    last_error: str | None = None
    connected_since: float | None = None


class _AmiProtocol(asyncio.Protocol):
    """Bytes in, messages out to the link; nothing else."""

    def __init__(self, link: AmiLink, parser: AmiParser) -> None:
        self._link = link
        self._parser = parser
        self.transport: asyncio.Transport | None = None
        self.detached = False  # the link has given this connection up
        self.bytes_received = 0
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        messages = self._parser.feed(data)
        if messages:
            at = time.time()
            deliver = self._link._deliver
            for message in messages:
                deliver(self, message, at)

    def eof_received(self) -> bool | None:
        self._parser.feed_eof()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)
        self._link._connection_lost(self, exc)

    @property
    def banner(self) -> str | None:
        return self._parser.banner

    def write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise NotConnected("the AMI connection is closing; action not sent")
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class AmiLink:
    """A self-healing AMI client connection.

    ``on_message(message, at)`` is called for every message read, in order,
    with ``at = time.time()`` at receipt. ``on_ready()`` is called
    synchronously, in the message order, the moment a (re)connection is
    logged in and booted: before any later message is delivered.
    ``on_down(reason, auth_failed)`` is called after every failed attempt and
    every lost connection, before the wait to retry (so repeatedly while the
    PBX stays away; not on :meth:`close`). ``reason`` is short and never holds
    the secret; ``auth_failed`` is True when the PBX refused the login. Use
    :meth:`run` (or :meth:`start` / :meth:`close`) to keep the link up.
    """

    def __init__(
        self,
        config: AmiConfig,
        on_message: OnMessage,
        *,
        on_ready: Callable[[], None] | None = None,
        on_down: Callable[[str, bool], None] | None = None,
        wanted_events: Iterable[str] | None = None,
        wanted_variables: Iterable[str] | None = None,
    ) -> None:
        for name, value in (
            ("username", config.username),
            ("secret", config.secret.get_secret_value()),
        ):
            if "\r" in value or "\n" in value:
                # Checked here, once: the value itself must never reach a log line.
                raise ValueError(f"ami.{name} contains a CR or LF character")
        self._config = config
        self._on_message = on_message
        self._on_ready = on_ready
        self._on_down = on_down
        self._wanted_events = (
            None if wanted_events is None else frozenset(wanted_events) | LINK_EVENTS
        )
        self._wanted_variables = None if wanted_variables is None else list(wanted_variables)
        self._protocol: _AmiProtocol | None = None
        self._pending: dict[str, _Pending] = {}
        self._watchers: dict[tuple[str, str], asyncio.Future[Message]] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"ctihub-{secrets.token_hex(3)}"
        self._state = LinkState.STOPPED
        self._login_id: str | None = None
        self._logged_in = False
        self._booted = False
        self._ready_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._auth_failing = False
        self._down_logged: str | None = None
        """The kind of the last failure logged at warning level; None once up again."""
        self._warned_no_fully_booted = False
        self._closing = False
        self._ready_before_boot = False  # went ready on the FullyBooted timeout
        self.generation = 0
        """Increases by one each time the link becomes ready."""
        self.stats = LinkStats()

    # ----------------------------------------------------------------- state

    @property
    def state(self) -> LinkState:
        """Where the link is now."""
        return self._state

    @property
    def is_ready(self) -> bool:
        """Logged in and booted: actions may be sent."""
        return self._state is LinkState.READY

    async def wait_ready(self, timeout: float) -> None:
        """Wait until the link is ready; ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not self.is_ready:
                await self._ready_event.wait()

    # ------------------------------------------------------------- lifecycle

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` in a task owned by the link (stopped by :meth:`close`)."""
        if self._task is None or self._task.done():
            if self._config.tls and not self._config.tls_verify:
                log.warning(
                    "ami tls_verify is off: the PBX's certificate is not checked host=%s",
                    self._config.host,
                )
            self._task = asyncio.create_task(self.run(), name="ami-link")
        return self._task

    async def close(self) -> None:
        """Stop reconnecting, log off politely if possible and close the connection."""
        self._closing = True
        try:
            task, self._task = self._task, None
            protocol = self._protocol
            if protocol is not None and self.is_ready:
                with contextlib.suppress(NotConnected):
                    protocol.write(encode_action([("Action", "Logoff")]))
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._drop_connection()
        finally:
            self._closing = False
        self._state = LinkState.STOPPED

    async def run(self) -> None:
        """Connect, log in and serve; reconnect on every loss, until cancelled."""
        attempt = 0
        try:
            while True:
                auth_failed = False
                try:
                    await self._connect_and_login()
                    attempt = 0
                    reason = await self._serve()
                except AuthenticationFailed as exc:
                    self._report_auth_failure(exc)
                    reason, auth_failed = str(exc), True
                    delay = self._config.auth_failure_delay
                except (OSError, TimeoutError, AmiError) as exc:  # ssl.SSLError is an OSError
                    reason = _describe_error(exc)
                    delay = self._retry_after(reason, attempt)
                    attempt += 1
                else:
                    delay = self._retry_after(reason, attempt)
                    attempt += 1
                self._drop_connection()
                self._state = LinkState.WAITING
                self._tell_down(reason, auth_failed)
                await asyncio.sleep(delay)
        finally:
            self._drop_connection()
            self._state = LinkState.STOPPED

    def _tell_down(self, reason: str, auth_failed: bool) -> None:
        if self._on_down is None:
            return
        try:
            self._on_down(reason, auth_failed)
        except Exception:
            log.exception("ami on_down callback failed")

    def _retry_after(self, reason: str, attempt: int) -> float:
        delay = self.backoff_delay(attempt)
        self.stats.last_error = reason
        # Once per kind of failure while the PBX stays away, with what fixes it.
        kind = reason.split(":", 1)[0]
        if kind != self._down_logged:
            self._down_logged = kind
            hint = "" if self.stats.logins else "; " + ami_diagnosis.unreachable(self._config)
            log.warning(
                "ami link down host=%s port=%d reason=%s retry_in=%.2fs%s",
                self._config.host,
                self._config.port,
                reason,
                delay,
                hint,
            )
        else:
            log.debug("ami link down (again) reason=%s retry_in=%.2fs", reason, delay)
        return delay

    def backoff_delay(self, attempt: int) -> float:
        """How long to wait before reconnect attempt number ``attempt`` (from 0)."""
        low = self._config.reconnect_min_delay
        high = max(low, self._config.reconnect_max_delay)
        base = min(high, low * (2 ** min(attempt, 30)))
        # Jitter spreads the reconnects of several hubs after a PBX restart.
        return max(low, random.uniform(base / 2, base))

    def _report_auth_failure(self, exc: AuthenticationFailed) -> None:
        self.stats.auth_failures += 1
        self.stats.last_error = str(exc)
        if not self._auth_failing:
            self._auth_failing = True
            log.error(
                "ami login refused host=%s port=%d username=%s auth=%s reason=%r; "
                "check the username/secret in [ami] and manager.conf (permit/deny); "
                "retrying every %gs; %s",
                self._config.host,
                self._config.port,
                self._config.username,
                self._config.auth,
                str(exc),
                self._config.auth_failure_delay,
                ami_diagnosis.login_refused(self._config),
            )
        else:
            log.debug("ami login still refused attempts=%d", self.stats.auth_failures)

    async def _connect_and_login(self) -> None:
        config = self._config
        self._state = LinkState.CONNECTING
        self._logged_in = False
        self._booted = False
        self._ready_before_boot = False
        self._login_id = None
        loop = asyncio.get_running_loop()
        parser = AmiParser(self._wanted_events, self._wanted_variables)
        ssl_context = config.tls_context()
        async with asyncio.timeout(config.connect_timeout):
            _, protocol = await loop.create_connection(
                lambda: _AmiProtocol(self, parser),
                config.host,
                config.port,
                ssl=ssl_context,
                server_hostname=(config.tls_server_name or config.host) if ssl_context else None,
            )
        self._protocol = protocol
        self.stats.connects += 1
        self._state = LinkState.LOGGING_IN
        log.debug("ami connected host=%s port=%d", config.host, config.port)
        try:
            await self._login(protocol)
        except ActionTimeout as exc:
            if protocol.banner is None:
                raise AmiError(
                    f"no AMI banner from {config.host}:{config.port} and no answer to login; "
                    "is this the AMI port?"
                ) from exc
            raise
        if not self._booted:
            try:
                async with asyncio.timeout(config.fully_booted_timeout):
                    while not self._booted:
                        if protocol.lost.done():
                            raise AmiError("connection lost while waiting for FullyBooted")
                        await self._ready_event.wait()
            except TimeoutError:
                if protocol.lost.done():
                    raise AmiError("connection lost while waiting for FullyBooted") from None
                level = logging.DEBUG if self._warned_no_fully_booted else logging.WARNING
                self._warned_no_fully_booted = True
                log.log(
                    level,
                    "ami no FullyBooted within %.1fs of login; going on without it "
                    "(Asterisk sends it only to users with read=system)",
                    config.fully_booted_timeout,
                )
                self._booted = True
                self._ready_before_boot = True
                self._become_ready()
        self._down_logged = None
        if self._auth_failing:
            self._auth_failing = False
            log.info("ami login accepted again username=%s", config.username)

    async def _login(self, protocol: _AmiProtocol) -> None:
        config = self._config
        secret = config.secret.get_secret_value()
        login: list[tuple[str, str]] = [("Action", "Login"), ("Username", config.username)]
        if config.auth == "md5":
            challenge = await self._request(
                [("Action", "Challenge"), ("AuthType", "MD5")],
                require_ready=False,
                check=False,
            )
            if challenge.get("Response") != "Success" or not challenge.get("Challenge"):
                raise AuthenticationFailed(
                    "MD5 challenge refused: " + challenge.get("Message", "no Challenge header")
                )
            digest = hashlib.md5((challenge["Challenge"] + secret).encode(), usedforsecurity=False)
            key = digest.hexdigest()
            login += [("AuthType", "MD5"), ("Key", key)]
        else:
            login.append(("Secret", secret))
        login.append(("Events", "on"))
        self._login_id = self._new_id()
        login.append(("ActionID", self._login_id))
        response = await self._request(login, require_ready=False, check=False)
        if response.get("Response") != "Success":
            raise AuthenticationFailed(response.get("Message", "login refused"))
        self.stats.logins += 1

    async def _serve(self) -> str:
        """Ping while the connection lives; return why it was lost."""
        protocol = self._protocol
        assert protocol is not None
        self.stats.connected_since = time.time()
        ping_task = asyncio.create_task(self._ping_loop(protocol), name="ami-ping")
        try:
            exc = await asyncio.shield(protocol.lost)
        finally:
            ping_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ping_task
        return f"connection lost: {_describe_error(exc) if exc else 'closed by the PBX'}"

    async def _ping_loop(self, protocol: _AmiProtocol) -> None:
        config = self._config
        while True:
            await asyncio.sleep(config.ping_interval)
            received = protocol.bytes_received
            try:
                reply = await self._request(
                    [("Action", "Ping")], timeout=config.ping_timeout, check=False
                )
            except ActionTimeout:
                if protocol.bytes_received != received:
                    # The PBX is talking: its answer waits behind a burst of events still
                    # on their way (or being parsed). A half-open link sends nothing.
                    log.info("ami Ping answer late behind incoming events; the link is alive")
                    continue
                self.stats.pings_missed += 1
                log.warning(
                    "ami no answer to Ping within %.1fs; dropping a half-open link host=%s",
                    config.ping_timeout,
                    config.host,
                )
                protocol.abort()
                return
            except (NotConnected, ActionUncertain):
                return
            if reply.get("Response") not in ("Success", "Pong"):
                log.warning("ami unexpected Ping answer response=%r", reply.get("Response"))

    def _drop_connection(self) -> None:
        protocol = self._protocol
        if protocol is not None:
            if self._closing:
                protocol.close()  # flushes a Logoff still in the buffer
            else:
                protocol.abort()
            self._connection_lost(protocol, None)

    # -------------------------------------------------------------- messages

    def _deliver(self, protocol: _AmiProtocol, message: Message, at: float) -> None:
        """Called by the protocol for each message, in order."""
        if protocol is not self._protocol:
            return  # a late read from a connection already given up
        self.stats.messages += 1
        try:
            self._on_message(message, at)
        except Exception:
            # One bad message must not stop the stream; the consumer is told once per message.
            self.stats.callback_errors += 1
            log.exception("ami on_message failed message=%s", _label(message))
        action_id = message.get("ActionID")
        event = message.get("Event")
        if event is not None:
            if event == "FullyBooted":
                self._booted = True
                self._ready_event.set()
                self._ready_event.clear()
                if self._ready_before_boot and self._state is LinkState.READY:
                    # Connected while Asterisk was still booting: what was read then
                    # was partial, so announce readiness again (the feed resyncs).
                    self._ready_before_boot = False
                    self._become_ready()
                else:
                    self._maybe_ready()
            if action_id is not None:
                self._event_for_action(action_id, event, message)
            return
        if action_id is None:
            return
        pending = self._pending.get(action_id)
        if pending is None:
            return
        if action_id == self._login_id and message.get("Response") == "Success":
            self._logged_in = True
            self._maybe_ready()
        if not pending.response.done():
            pending.response.set_result(message)
        if pending.items is None:
            del self._pending[action_id]
        elif message.get("Response") == "Error":
            del self._pending[action_id]
            assert pending.done is not None
            if not pending.done.done():
                pending.done.set_exception(ActionFailed(pending.action, message))
        # A list's Success response only opens it: it ends with its "...Complete" event.

    def _event_for_action(self, action_id: str, event: str, message: Message) -> None:
        pending = self._pending.get(action_id)
        if pending is not None and pending.items is not None:
            if event.endswith("Complete") or message.get("EventList", "").lower() == "complete":
                self._finish_list(action_id, pending)
            else:
                pending.items.append(message)
        watcher = self._watchers.pop((action_id, event), None)
        if watcher is not None and not watcher.done():
            watcher.set_result(message)

    def _finish_list(self, action_id: str, pending: _Pending) -> None:
        del self._pending[action_id]
        assert pending.done is not None and pending.items is not None
        if not pending.done.done():
            pending.done.set_result(pending.items)

    def _maybe_ready(self) -> None:
        if self._logged_in and self._booted and self._state is LinkState.LOGGING_IN:
            self._become_ready()

    def _become_ready(self) -> None:
        self._state = LinkState.READY
        self.generation += 1
        log.info(
            "ami ready host=%s generation=%d banner=%r",
            self._config.host,
            self.generation,
            self._protocol.banner if self._protocol else None,
        )
        self._ready_event.set()
        self._ready_event.clear()
        if self._on_ready is not None:
            try:
                self._on_ready()
            except Exception:
                log.exception("ami on_ready callback failed")

    def _connection_lost(self, protocol: _AmiProtocol, exc: Exception | None) -> None:
        """Fail everything waiting on this connection; called once per connection."""
        if protocol.detached:
            return
        protocol.detached = True
        if protocol is not self._protocol:
            return
        self._protocol = None
        self._state = LinkState.WAITING
        self._logged_in = False
        self._booted = False
        self._ready_event.set()  # wake the login wait so that it sees the loss
        self._ready_event.clear()
        pending, self._pending = self._pending, {}
        for action_id, item in pending.items():
            error = ActionUncertain(
                f"link to the PBX lost before the answer to {item.action} (ActionID={action_id}); "
                "it may or may not have reached the PBX and will not be re-sent"
            )
            for future in (item.response, item.done):
                if future is not None and not future.done():
                    future.set_exception(error)
                    _mark_retrieved(future)
        watchers, self._watchers = self._watchers, {}
        for (action_id, event), future in watchers.items():
            if not future.done():
                future.set_exception(
                    ActionUncertain(
                        f"link to the PBX lost before {event} for ActionID={action_id}; "
                        "the outcome is unknown"
                    )
                )

    # --------------------------------------------------------------- actions

    def new_action_id(self) -> str:
        """A fresh ActionID, unique for this link (for :meth:`watch_event`)."""
        return self._new_id()

    def _new_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    def watch_event(self, action_id: str, event: str) -> asyncio.Future[Message]:
        """A future for the first ``event`` carrying ``action_id`` (e.g. ``OriginateResponse``).

        Register it before sending the action. It fails with :class:`ActionUncertain`
        if the link drops first; cancel it if you stop caring.
        """
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        _mark_retrieved(future)
        self._watchers[(action_id, event)] = future
        future.add_done_callback(lambda _: self._watchers.pop((action_id, event), None))
        return future

    async def send_action(self, headers: Headers, *, timeout: float | None = None) -> Message:
        """Send one action and return its response.

        Raises :class:`~cti.ami_codec.ActionEncodingError` for CR/LF in a value,
        :class:`NotConnected` (not sent), :class:`ActionUncertain` /
        :class:`ActionTimeout` (sent, no answer) or :class:`ActionFailed`.
        """
        return await self._request(headers, timeout=timeout)

    async def query_list(self, headers: Headers, *, timeout: float | None = None) -> list[Message]:
        """Send a list action (``CoreShowChannels``, ``QueueStatus``…) and collect its items.

        The items are also delivered to ``on_message`` in arrival order, like every
        message; the returned list (without the ``…Complete`` event) is a copy for
        the caller. ``timeout`` (default ``list_timeout``) covers the whole list.
        """
        pairs = _pairs(headers)
        action_id, data, action = self._prepare(pairs)
        loop = asyncio.get_running_loop()
        pending = _Pending(
            action=action,
            response=loop.create_future(),
            items=[],
            done=loop.create_future(),
        )
        _mark_retrieved(pending.response)
        assert pending.done is not None
        self._send(action_id, data, pending, require_ready=True)
        deadline = self._config.list_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(deadline):
                return await pending.done
        except TimeoutError:
            self._pending.pop(action_id, None)
            raise ActionTimeout(
                f"{action} list (ActionID={action_id}) not complete within {deadline:.1f}s"
            ) from None

    async def _request(
        self,
        headers: Headers,
        *,
        timeout: float | None = None,
        require_ready: bool = True,
        check: bool = True,
    ) -> Message:
        pairs = _pairs(headers)
        action_id, data, action = self._prepare(pairs)
        pending = _Pending(action=action, response=asyncio.get_running_loop().create_future())
        self._send(action_id, data, pending, require_ready=require_ready)
        deadline = self._config.action_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(deadline):
                response = await pending.response
        except TimeoutError:
            self._pending.pop(action_id, None)
            raise ActionTimeout(
                f"no response to {action} (ActionID={action_id}) within {deadline:.1f}s; "
                "it may or may not have reached the PBX"
            ) from None
        if check and response.get("Response") == "Error":
            raise ActionFailed(action, response)
        return response

    def _prepare(self, pairs: list[tuple[str, str]]) -> tuple[str, bytes, str]:
        action = next((v for k, v in pairs if k.lower() == "action"), "")
        if not action:
            raise ValueError("an AMI action needs an 'Action' header")
        ids = [v for k, v in pairs if k.lower() == "actionid"]
        if len(ids) > 1:
            raise ValueError("an AMI action may carry only one ActionID")
        if ids:
            action_id = ids[0]
            if not action_id:
                raise ValueError("ActionID must not be empty")
        else:
            action_id = self._new_id()
            pairs = [*pairs, ("ActionID", action_id)]
        if action_id in self._pending:
            raise ValueError(f"ActionID {action_id!r} is already waiting for an answer")
        # Encoding first: a CR/LF in a value is refused even while disconnected.
        return action_id, encode_action(pairs), action

    def _send(self, action_id: str, data: bytes, pending: _Pending, *, require_ready: bool) -> None:
        protocol = self._protocol
        if protocol is None or (require_ready and not self.is_ready):
            raise NotConnected(
                f"AMI link is {self._state.value}; {pending.action} not sent "
                "(actions are never queued)"
            )
        protocol.write(data)
        self._pending[action_id] = pending
        log.debug("ami sent action=%s action_id=%s", pending.action, action_id)


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return [(str(k), v) for k, v in headers.items()]
    return list(headers)


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    """Silence "exception never retrieved" for futures nobody is obliged to await."""
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


def _label(message: Message) -> str:
    for key in ("Event", "Response"):
        if key in message:
            return f"{key}={message[key]!r}"
    return "unknown"


def _describe_error(exc: BaseException | None) -> str:
    if exc is None:
        return "none"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
