"""Transfers (blind and attended) and hold: the call changes hands or waits, and stays one call."""

from __future__ import annotations

from cti.ami_codec import Message
from cti.events import CallHeld, CallResumed, CallTransferred, Event, Transfer

from .calls import CallCore


class TransferTracking(CallCore):
    """Handlers for transfers and hold."""

    def _on_blind_transfer(self, m: Message, out: list[Event]) -> None:
        if m.get("Result", "Success") != "Success":
            return
        transferer = self._channel_named(m.get("TransfererChannel"), m.get("TransfererUniqueid"))
        transferee = self._channel_named(m.get("TransfereeChannel"), m.get("TransfereeUniqueid"))
        anchor = transferee or transferer
        if anchor is None:
            return
        call = self.calls[anchor.call_id]
        from_agent = transferer.agent if transferer is not None else call.agent
        target = m.get("Extension", "")
        call.transfers.append(Transfer(from_agent, target, "blind"))
        out.append(CallTransferred(call.call_id, "blind", from_agent, target, self._now))

    def _on_attended_transfer(self, m: Message, out: list[Event]) -> None:
        if m.get("Result", "Success") != "Success":
            return
        orig = self._channel_named(m.get("OrigTransfererChannel"), m.get("OrigTransfererUniqueid"))
        second = self._channel_named(
            m.get("SecondTransfererChannel"), m.get("SecondTransfererUniqueid")
        )
        target = self._channel_named(
            m.get("TransferTargetChannel"), m.get("TransferTargetUniqueid")
        )
        if orig is None:
            return
        call = self.calls[orig.call_id]
        from_agent = orig.agent or self.extension_of(orig.name) or call.agent
        to_agent: str | None = None
        if target is not None:
            to_agent = target.agent or self.extension_of(target.name)
        if to_agent is None and second is not None:
            # The consult call's other party is the target.
            consult = self.calls.get(second.call_id)
            for uid in consult.channels if consult else ():
                other = self.channels[uid]
                ext = other.agent or self.extension_of(other.name)
                if uid != second.uniqueid and ext and ext != from_agent:
                    to_agent = ext
                    target = other
                    break
        to = to_agent or m.get("TransferTargetChannel", "") or "unknown"
        call.transfers.append(Transfer(from_agent, to, "attended"))
        out.append(CallTransferred(call.call_id, "attended", from_agent, to, self._now))
        if target is not None and to_agent is not None:
            if target.call_id != call.call_id:
                self._move(target, call.call_id)
            target.role, target.agent = "agent", to_agent
            call.talk_legs.add(target.uniqueid)
            call.agent = to_agent
            if to_agent not in call.agents_rung:
                call.agents_rung.append(to_agent)

    def _on_hold(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        call = self.calls[channel.call_id]
        if not call.held:
            call.held = True
            out.append(CallHeld(call.call_id, channel.agent or call.agent, self._now))

    def _on_unhold(self, m: Message, out: list[Event]) -> None:
        channel = self._channel(m)
        if channel is None:
            return
        call = self.calls[channel.call_id]
        if call.held:
            call.held = False
            out.append(CallResumed(call.call_id, channel.agent or call.agent, self._now))
