"""Panel actions (click-to-call, queue pause) carried out over the hub's AMI link."""

from __future__ import annotations

import logging

from cti.ami_codec import ActionEncodingError
from pbx_adapters.ami import AmiError
from pbx_adapters.ami_actions import AmiActions
from popup_server.ports import PbxActionError

logger = logging.getLogger(__name__)


class AmiPbxActions:
    """:class:`~popup_server.ports.PbxActions` over :class:`pbx_adapters.ami_actions.AmiActions`.

    ``originate_channel`` and ``member_interface`` are templates with
    ``{extension}``: FreePBX/Issabel use ``Local/{extension}@from-internal/n``
    with context ``from-internal`` for click-to-call (PBX-NOTES §6), and
    ``Local/{extension}@from-queue/n`` as queue member interface.
    """

    def __init__(
        self,
        actions: AmiActions,
        *,
        originate_channel: str = "Local/{extension}@from-internal/n",
        originate_context: str = "from-internal",
        member_interface: str = "Local/{extension}@from-queue/n",
        ring_timeout: float = 30.0,
    ) -> None:
        self._actions = actions
        self._channel = originate_channel
        self._context = originate_context
        self._interface = member_interface
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
