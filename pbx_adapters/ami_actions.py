"""The AMI actions the hub sends, with their input checked before anything is written.

Values often come from the CRM or a browser (a customer's name as caller ID,
a number typed by an agent), so each method checks its input and raises
:class:`InvalidActionInput` naming the field. CR or LF anywhere is refused by
the encoder (:class:`~cti.ami_codec.ActionEncodingError`, of which
:class:`InvalidActionInput` is a kind), so one ``except ActionEncodingError``
catches every refused input.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cti.ami_codec import ActionEncodingError, Message

from .ami import AmiLink

# Channel and interface names: a technology, a slash, then no blanks or commas
# (a comma would split the Dial string Asterisk builds from it).
_CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9_]*/[^\s,]+")
_CONTEXT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@-]*")
_EXTEN = re.compile(r"[A-Za-z0-9*#+_.-]+")
_QUEUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# Plain channel variable names only (``__`` inheritance allowed): a dialplan
# function name such as FILE(...) or SHELL(...) would let CRM data reach them.
_VARIABLE = re.compile(r"_{0,2}[A-Za-z][A-Za-z0-9_]*")
_CALLER_NUMBER = re.compile(r"[0-9+*#]*")
_SPY_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@-]{1,64}")
_SPY_OPTIONS = re.compile(r"q[wB]?E?")
_MAX_NAME = 80  # AST_MAX_EXTENSION / AST_MAX_CONTEXT
_MAX_TEXT = 256


class InvalidActionInput(ActionEncodingError):
    """A value given to an action method cannot make a valid, safe AMI action."""


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What an asynchronous Originate returned.

    ``response`` is the immediate ``Response: Success`` ("Originate successfully
    queued"); ``outcome`` resolves to the later ``OriginateResponse`` event, whose
    ``Response`` is ``Success`` or ``Failure`` and whose ``Reason`` is Asterisk's
    dial cause (4 answered, 5 busy, 3 no answer, 8 congestion, 0 failed).
    """

    action_id: str
    response: Message
    outcome: asyncio.Future[Message]

    async def wait_outcome(self, timeout: float) -> Message:
        """The ``OriginateResponse`` event; ``TimeoutError`` if none in ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            return await asyncio.shield(self.outcome)


class AmiActions:
    """Thin, checked builders for the actions the hub uses, sent over one :class:`AmiLink`."""

    def __init__(self, link: AmiLink) -> None:
        self._link = link

    # --------------------------------------------------------------- calls

    async def originate(
        self,
        channel: str,
        exten: str,
        *,
        context: str,
        priority: int = 1,
        caller_id_name: str | None = None,
        caller_id_number: str | None = None,
        timeout: float = 30.0,
        variables: Mapping[str, str] | None = None,
    ) -> OriginateResult:
        """Click-to-call: ring ``channel`` (e.g. ``Local/1002@from-internal``), then dial
        ``exten`` in ``context``.

        Sent once, asynchronously (``Async: true``); returns after the PBX queued it.
        If the link drops before the answer, :class:`~pbx_adapters.ami.ActionUncertain`
        is raised and nothing is re-sent: check before dialling again.
        """
        headers: list[tuple[str, str]] = [
            ("Action", "Originate"),
            ("Channel", _channel("channel", channel)),
            ("Context", _matching("context", context, _CONTEXT)),
            ("Exten", _matching("exten", exten, _EXTEN)),
            ("Priority", str(_priority(priority))),
        ]
        caller_id = _caller_id(caller_id_name, caller_id_number)
        if caller_id:
            headers.append(("CallerID", caller_id))
        if not timeout > 0:
            raise InvalidActionInput(f"timeout must be more than 0 seconds, got {timeout!r}")
        headers.append(("Timeout", str(round(timeout * 1000))))
        for name, value in (variables or {}).items():
            headers.append(("Variable", _variable(name, value)))
        headers.append(("Async", "true"))
        action_id = self._link.new_action_id()
        headers.append(("ActionID", action_id))
        outcome = self._link.watch_event(action_id, "OriginateResponse")
        try:
            response = await self._link.send_action(headers)
        except BaseException:
            outcome.cancel()
            raise
        return OriginateResult(action_id=action_id, response=response, outcome=outcome)

    async def spy(
        self,
        channel: str,
        spied_prefix: str,
        options: str,
        *,
        caller_id_name: str | None = None,
        timeout: float = 30.0,
    ) -> OriginateResult:
        """Ring ``channel`` (the supervisor's phone) into ``ChanSpy(spied_prefix,options)``:
        ``q`` listens quietly, ``qw`` whispers to the agent, ``qB`` barges into the call."""
        if not _SPY_OPTIONS.fullmatch(options):
            raise InvalidActionInput(f"ChanSpy options {options!r} are not among q, w, B, E")
        _refuse_newlines("spied_prefix", spied_prefix)
        if not _SPY_PREFIX.fullmatch(spied_prefix):
            raise InvalidActionInput(
                f"spied_prefix {spied_prefix!r} is not a channel prefix such as 'PJSIP/1001-'"
            )
        if not timeout > 0:
            raise InvalidActionInput(f"timeout must be more than 0 seconds, got {timeout!r}")
        headers: list[tuple[str, str]] = [
            ("Action", "Originate"),
            ("Channel", _channel("channel", channel)),
            ("Application", "ChanSpy"),
            ("Data", f"{spied_prefix},{options}"),
            ("Timeout", str(round(timeout * 1000))),
        ]
        caller_id = _caller_id(caller_id_name, None)
        if caller_id:
            headers.append(("CallerID", caller_id))
        headers.append(("Async", "true"))
        action_id = self._link.new_action_id()
        headers.append(("ActionID", action_id))
        outcome = self._link.watch_event(action_id, "OriginateResponse")
        try:
            response = await self._link.send_action(headers)
        except BaseException:
            outcome.cancel()
            raise
        return OriginateResult(action_id=action_id, response=response, outcome=outcome)

    async def redirect(
        self, channel: str, exten: str, *, context: str, priority: int = 1
    ) -> Message:
        """Send a live channel to another place in the dialplan."""
        return await self._link.send_action(
            [
                ("Action", "Redirect"),
                ("Channel", _channel("channel", channel)),
                ("Context", _matching("context", context, _CONTEXT)),
                ("Exten", _matching("exten", exten, _EXTEN)),
                ("Priority", str(_priority(priority))),
            ]
        )

    async def blind_transfer(self, channel: str, exten: str, *, context: str) -> Message:
        """Blind-transfer the party bridged with ``channel`` to ``exten@context``."""
        return await self._link.send_action(
            [
                ("Action", "BlindTransfer"),
                ("Channel", _channel("channel", channel)),
                ("Context", _matching("context", context, _CONTEXT)),
                ("Exten", _matching("exten", exten, _EXTEN)),
            ]
        )

    async def atxfer(self, channel: str, exten: str, *, context: str) -> Message:
        """Attended transfer from ``channel`` (the transferer's own leg): Asterisk puts its
        peer on hold and dials ``exten@context`` on ``channel``; when the transferer hangs
        up, the two others are bridged (Asterisk's ``AttendedTransfer`` event)."""
        return await self._link.send_action(
            [
                ("Action", "Atxfer"),
                ("Channel", _channel("channel", channel)),
                ("Exten", _matching("exten", exten, _EXTEN)),
                ("Context", _matching("context", context, _CONTEXT)),
            ]
        )

    async def mute_audio(self, channel: str, on: bool, *, direction: str = "all") -> Message:
        """Mute or unmute a channel's audio (res_mutestream's ``MuteAudio``)."""
        if direction not in ("in", "out", "all"):
            raise InvalidActionInput(f"direction must be in, out or all, got {direction!r}")
        return await self._link.send_action(
            [
                ("Action", "MuteAudio"),
                ("Channel", _channel("channel", channel)),
                ("Direction", direction),
                ("State", "on" if on else "off"),
            ]
        )

    async def hangup(self, channel: str, *, cause: int | None = None) -> Message:
        """Hang up one channel (never a ``/regex/``: the hub names the channel it means)."""
        headers = [("Action", "Hangup"), ("Channel", _channel("channel", channel))]
        if cause is not None:
            if not 0 <= cause <= 127:
                raise InvalidActionInput(f"cause must be a Q.850 code 0-127, got {cause!r}")
            headers.append(("Cause", str(cause)))
        return await self._link.send_action(headers)

    async def setvar(self, variable: str, value: str, *, channel: str | None = None) -> Message:
        """Set a channel variable (or a global one when ``channel`` is None)."""
        headers = [("Action", "Setvar")]
        if channel is not None:
            headers.append(("Channel", _channel("channel", channel)))
        name, _, text = _variable(variable, value).partition("=")
        headers += [("Variable", name), ("Value", text)]
        return await self._link.send_action(headers)

    # -------------------------------------------------------------- queues

    async def queue_pause(
        self,
        interface: str,
        paused: bool,
        *,
        queue: str | None = None,
        reason: str | None = None,
    ) -> Message:
        """Pause or unpause a member in one queue, or in all its queues when ``queue`` is None."""
        headers = [
            ("Action", "QueuePause"),
            ("Interface", _channel("interface", interface)),
            ("Paused", "true" if paused else "false"),
        ]
        if queue is not None:
            headers.append(("Queue", _matching("queue", queue, _QUEUE)))
        if reason:
            headers.append(("Reason", _text("reason", reason)))
        return await self._link.send_action(headers)

    async def queue_add(
        self,
        queue: str,
        interface: str,
        *,
        member_name: str | None = None,
        penalty: int = 0,
        paused: bool = False,
        state_interface: str | None = None,
    ) -> Message:
        """Add a dynamic member to a queue."""
        if penalty < 0:
            raise InvalidActionInput(f"penalty must be 0 or more, got {penalty!r}")
        headers = [
            ("Action", "QueueAdd"),
            ("Queue", _matching("queue", queue, _QUEUE)),
            ("Interface", _channel("interface", interface)),
            ("Penalty", str(penalty)),
            ("Paused", "true" if paused else "false"),
        ]
        if member_name:
            headers.append(("MemberName", _text("member_name", member_name)))
        if state_interface is not None:
            headers.append(("StateInterface", _state_interface(state_interface)))
        return await self._link.send_action(headers)

    async def queue_remove(self, queue: str, interface: str) -> Message:
        """Remove a dynamic member from a queue."""
        return await self._link.send_action(
            [
                ("Action", "QueueRemove"),
                ("Queue", _matching("queue", queue, _QUEUE)),
                ("Interface", _channel("interface", interface)),
            ]
        )

    # ------------------------------------------------------------ queries

    async def core_show_channels(self) -> list[Message]:
        """Every live channel (``CoreShowChannel`` items)."""
        return await self._link.query_list([("Action", "CoreShowChannels")])

    async def queue_status(
        self, *, queue: str | None = None, member: str | None = None
    ) -> list[Message]:
        """``QueueParams``, ``QueueMember`` and ``QueueEntry`` items."""
        headers = [("Action", "QueueStatus")]
        if queue is not None:
            headers.append(("Queue", _matching("queue", queue, _QUEUE)))
        if member is not None:
            headers.append(("Member", _channel("member", member)))
        return await self._link.query_list(headers)

    async def pjsip_endpoints(self) -> list[Message]:
        """``EndpointList`` items, one per PJSIP endpoint (chan_pjsip)."""
        return await self._link.query_list([("Action", "PJSIPShowEndpoints")])

    async def sip_peers(self) -> list[Message]:
        """``PeerEntry`` items, one per chan_sip peer."""
        return await self._link.query_list([("Action", "SIPpeers")])

    async def iax_peers(self) -> list[Message]:
        """``PeerEntry`` items, one per IAX2 peer."""
        return await self._link.query_list([("Action", "IAXpeerlist")])

    async def queue_summary(self, *, queue: str | None = None) -> list[Message]:
        """One ``QueueSummary`` item per queue."""
        headers = [("Action", "QueueSummary")]
        if queue is not None:
            headers.append(("Queue", _matching("queue", queue, _QUEUE)))
        return await self._link.query_list(headers)

    async def status(self, *, channel: str | None = None) -> list[Message]:
        """``Status`` items for one channel or all."""
        headers = [("Action", "Status")]
        if channel is not None:
            headers.append(("Channel", _channel("channel", channel)))
        return await self._link.query_list(headers)


# ------------------------------------------------------------------ checks


def _refuse_newlines(field: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise InvalidActionInput(
            f"{field} contains a CR or LF character; refused to prevent AMI injection"
        )


def _matching(field: str, value: str, pattern: re.Pattern[str]) -> str:
    _refuse_newlines(field, value)
    if not value or len(value) > _MAX_NAME or not pattern.fullmatch(value):
        raise InvalidActionInput(
            f"{field} {value!r} is not valid: expected 1-{_MAX_NAME} characters "
            f"matching {pattern.pattern}"
        )
    return value


def _channel(field: str, value: str) -> str:
    _refuse_newlines(field, value)
    if not _CHANNEL.fullmatch(value) or len(value) > _MAX_TEXT:
        raise InvalidActionInput(
            f"{field} {value!r} is not a channel or interface name such as "
            "'PJSIP/1001' or 'Local/1001@from-internal'"
        )
    return value


def _state_interface(value: str) -> str:
    _refuse_newlines("state_interface", value)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*[/:][^\s,]+", value):
        raise InvalidActionInput(
            f"state_interface {value!r} is not a device or hint such as "
            "'PJSIP/1001', 'Custom:1001' or 'hint:1001@ext-local'"
        )
    return value


def _text(field: str, value: str) -> str:
    _refuse_newlines(field, value)
    if len(value) > _MAX_TEXT or not value.isprintable():
        raise InvalidActionInput(
            f"{field} must be printable text of at most {_MAX_TEXT} characters"
        )
    return value


def _priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise InvalidActionInput(f"priority must be a whole number from 1, got {priority!r}")
    return priority


def _variable(name: str, value: str) -> str:
    _refuse_newlines(f"variable {name!r}", name)
    if not _VARIABLE.fullmatch(name) or len(name) > _MAX_NAME:
        raise InvalidActionInput(
            f"variable name {name!r} is not a plain channel variable name "
            "(letters, digits, underscores; dialplan functions are not accepted)"
        )
    _refuse_newlines(f"variable {name}", value)
    if "," in value:
        # Asterisk splits each Variable header on commas: "x,OTHER=1" would set OTHER.
        raise InvalidActionInput(f"variable {name} contains a comma, which AMI would split on")
    _text(f"variable {name}", value)
    return f"{name}={value}"


def _caller_id(name: str | None, number: str | None) -> str:
    number = number or ""
    _refuse_newlines("caller_id_number", number)
    if not _CALLER_NUMBER.fullmatch(number) or len(number) > _MAX_NAME:
        raise InvalidActionInput(f"caller_id_number {number!r} may hold only digits, +, * and #")
    if not name:
        return f"<{number}>" if number else ""
    _text("caller_id_name", name)
    if any(c in name for c in '"<>'):
        raise InvalidActionInput(
            f"caller_id_name {name!r} must not contain '\"', '<' or '>' (they delimit caller ID)"
        )
    return f'"{name}" <{number}>'
