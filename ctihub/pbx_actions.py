"""Panel actions (click-to-call, queues, call control; a supervisor's ChanSpy) carried out
over the hub's AMI link."""

from __future__ import annotations

import logging
import re

from cti.ami_codec import ActionEncodingError, Message
from pbx_adapters.ami import AmiError
from pbx_adapters.ami_actions import AmiActions
from popup_server.ports import PbxActionError, SpyMode

logger = logging.getLogger(__name__)

SPY_OPTIONS: dict[SpyMode, str] = {"listen": "q", "whisper": "qw", "barge": "qB"}
"""ChanSpy options per mode: ``q`` no beep or name announced to anyone; ``w`` whisper to
the spied-on agent only; ``B`` barge: talk to both parties."""


class AmiPbxActions:
    """:class:`~popup_server.ports.PbxActions` over :class:`pbx_adapters.ami_actions.AmiActions`.

    ``originate_channel`` and ``member_interface`` are templates with
    ``{extension}``: FreePBX/Issabel use ``Local/{extension}@from-internal/n``
    with context ``from-internal`` for click-to-call (PBX-NOTES §6), and
    ``Local/{extension}@from-queue/n`` as queue member interface, whose device
    state comes from ``hint:{extension}@ext-local``.

    Call control finds the agent's leg of the call on the PBX itself
    (``CoreShowChannels``: the channel of the extension bridged with someone
    else in the call), so it acts on what Asterisk has now, not on a guess. Each
    action is sent once, never retried.
    """

    def __init__(
        self,
        actions: AmiActions,
        *,
        originate_channel: str = "Local/{extension}@from-internal/n",
        originate_context: str = "from-internal",
        member_interface: str = "Local/{extension}@from-queue/n",
        member_state_interface: str = "hint:{extension}@ext-local",
        transfer_context: str = "from-internal",
        spy_channel_prefix: str = "PJSIP/{extension}-",
        ring_timeout: float = 30.0,
    ) -> None:
        self._actions = actions
        self._channel = originate_channel
        self._context = originate_context
        self._interface = member_interface
        self._state_interface = member_state_interface
        self._transfer_context = transfer_context
        self._spy_prefix = spy_channel_prefix
        self._ring_timeout = ring_timeout

    async def originate(self, extension: str, number: str) -> None:
        """Ring the agent's own phone, then dial ``number`` (sent once, never retried)."""
        try:
            await self._actions.originate(
                self._channel.format(extension=extension),
                number,
                context=self._context,
                caller_id_number=extension,
                timeout=self._ring_timeout,
            )
        except (AmiError, ActionEncodingError) as exc:
            raise PbxActionError(f"Originate from {extension} failed: {exc}") from exc

    async def queue_pause(
        self, extension: str, paused: bool, reason: str | None, queue: str | None = None
    ) -> None:
        """Pause or unpause the agent's queue membership."""
        try:
            await self._actions.queue_pause(
                self._interface.format(extension=extension), paused, queue=queue, reason=reason
            )
        except (AmiError, ActionEncodingError) as exc:
            raise PbxActionError(f"QueuePause for {extension} failed: {exc}") from exc

    async def queue_login(self, extension: str, queue: str, member_name: str) -> None:
        """QueueAdd of the agent's member interface, with its device state as FreePBX does."""
        try:
            await self._actions.queue_add(
                queue,
                self._interface.format(extension=extension),
                member_name=member_name or None,
                state_interface=self._state_interface.format(extension=extension) or None,
            )
        except (AmiError, ActionEncodingError) as exc:
            raise PbxActionError(f"QueueAdd of {extension} to {queue} failed: {exc}") from exc

    async def queue_logout(self, extension: str, queue: str) -> None:
        """QueueRemove of the agent's member interface."""
        try:
            await self._actions.queue_remove(queue, self._interface.format(extension=extension))
        except (AmiError, ActionEncodingError) as exc:
            raise PbxActionError(f"QueueRemove of {extension} from {queue} failed: {exc}") from exc

    async def hold(self, extension: str, call_id: str, on: bool) -> None:
        """Mute the agent's leg both ways (``MuteAudio``): the call stays bridged and
        recorded, neither side hears the other until resumed. AMI has no hold action."""
        mine, _ = await self._legs(extension, call_id)
        try:
            await self._actions.mute_audio(mine, on)
        except (AmiError, ActionEncodingError) as exc:
            raise PbxActionError(f"MuteAudio on {mine} failed: {exc}") from exc

    async def transfer(self, extension: str, call_id: str, to: str, *, attended: bool) -> None:
        """``BlindTransfer`` or ``Atxfer`` from the agent's own leg to ``to``."""
        mine, _ = await self._legs(extension, call_id)
        try:
            if attended:
                await self._actions.atxfer(mine, to, context=self._transfer_context)
            else:
                await self._actions.blind_transfer(mine, to, context=self._transfer_context)
        except (AmiError, ActionEncodingError) as exc:
            kind = "Atxfer" if attended else "BlindTransfer"
            raise PbxActionError(f"{kind} of {mine} to {to} failed: {exc}") from exc

    async def hangup(self, extension: str, call_id: str) -> None:
        """Hang up the agent's own leg; during an attended transfer this completes it."""
        mine, _ = await self._legs(extension, call_id)
        try:
            await self._actions.hangup(mine)
        except (AmiError, ActionEncodingError) as exc:
            raise PbxActionError(f"Hangup of {mine} failed: {exc}") from exc

    async def _legs(self, extension: str, call_id: str) -> tuple[str, str | None]:
        """The agent's channel in the call and the party bridged with it (None if alone)."""
        try:
            items = await self._actions.core_show_channels()
        except AmiError as exc:
            raise PbxActionError(f"CoreShowChannels failed: {exc}") from exc
        return agent_leg(items, extension, call_id)

    async def spy(self, supervisor_extension: str, agent_extension: str, mode: SpyMode) -> None:
        """Ring the supervisor's own phone into ChanSpy on the agent's call (``mode``)."""
        try:
            await self._actions.spy(
                self._channel.format(extension=supervisor_extension),
                self._spy_prefix.format(extension=agent_extension),
                SPY_OPTIONS[mode],
                caller_id_name=f"{mode} {agent_extension}",
                timeout=self._ring_timeout,
            )
        except (AmiError, ActionEncodingError) as exc:
            raise PbxActionError(f"ChanSpy on {agent_extension} failed: {exc}") from exc


def agent_leg(items: list[Message], extension: str, call_id: str) -> tuple[str, str | None]:
    """From ``CoreShowChannel`` items: the channel of ``extension`` in call ``call_id``
    bridged with a party that is not the agent's (the customer, or a transfer target),
    and that party's channel.

    With FreePBX/Issabel Local members the agent has three channels in the call
    (``Local/1001@from-queue-…;1`` bridged with the caller, its ``;2`` twin
    bridged with ``PJSIP/1001-…``); the ``;1`` is the one to act on, as the
    ``TransfererChannel`` of Asterisk's own ``BlindTransfer`` event shows.
    """
    own = re.compile(rf"^(Local/{re.escape(extension)}@[^;]+;[12]|\w+/{re.escape(extension)}-\w+)$")
    channels: list[tuple[str, str]] = []
    for item in items:
        if item.get("Linkedid") == call_id:
            channels.append((item.get("Channel", ""), item.get("BridgeId", "")))
    mine = [(name, bridge) for name, bridge in channels if own.match(name)]
    for name, bridge in mine:
        if not bridge:
            continue
        peers = [n for n, b in channels if b == bridge and n != name and not own.match(n)]
        if peers:
            return name, peers[0]
    if mine:
        return mine[0][0], None
    raise PbxActionError(f"extension {extension} has no channel in call {call_id} on the PBX")
