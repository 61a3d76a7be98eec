"""Call control and queue membership from the panel's actions to the simulated PBX and back
as domain events: hold, attended and blind transfer, hang up, queue log-in and log-out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cti.events import (
    CallAnswered,
    CallEnded,
    CallTransferred,
    Event,
    QueueMemberChanged,
    QueueMemberRemoved,
)
from pbx_adapters.simulator.spec import CallPlan
from tests.popup_server.conftest import demo_crm, make_users
from tests.popup_server.live_stack import LiveStack, live_stack


async def _until(stack: LiveStack, found: Callable[[Event], bool], what: str) -> Event:
    for _ in range(300):
        for event in stack.events:
            if found(event):
                return event
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {what} within 15 s; saw {[type(e).__name__ for e in stack.events]}")


async def test_attended_then_blind_transfer_hold_and_hang_up(password_hash: str) -> None:
    async with live_stack(demo_crm(), make_users(password_hash)) as stack:
        pbx = stack.pbx
        assert pbx is not None
        stack.simulator.place_inbound_call(
            CallPlan(caller="+982188776655", did="2188000000", answer_delay=0.3, talk=120)
        )
        answered = await _until(stack, lambda e: isinstance(e, CallAnswered), "answer")
        assert isinstance(answered, CallAnswered) and answered.agent is not None
        call_id, first = answered.call_id, answered.agent
        second, third = [a for a in ("1001", "1002", "1003") if a != first][:2]

        await pbx.hold(first, call_id, True)
        await pbx.hold(first, call_id, False)

        await pbx.transfer(first, call_id, second, attended=True)
        await _until(
            stack,
            lambda e: isinstance(e, CallAnswered) and e.agent == second,
            "the consulted agent answering",
        )
        await pbx.hangup(first, call_id)  # completes the attended transfer
        attended = await _until(
            stack,
            lambda e: isinstance(e, CallTransferred) and e.kind == "attended",
            "an attended transfer",
        )
        assert isinstance(attended, CallTransferred)
        assert (attended.call_id, attended.from_agent, attended.to) == (call_id, first, second)

        await pbx.transfer(second, call_id, third, attended=False)
        blind = await _until(
            stack, lambda e: isinstance(e, CallTransferred) and e.kind == "blind", "a blind one"
        )
        assert isinstance(blind, CallTransferred)
        assert (blind.from_agent, blind.to) == (second, third)
        await _until(
            stack, lambda e: isinstance(e, CallAnswered) and e.agent == third, "third answering"
        )
        await pbx.hangup(third, call_id)
        ended = await _until(stack, lambda e: isinstance(e, CallEnded), "the end of the call")
        assert isinstance(ended, CallEnded) and ended.call_id == call_id


async def test_queue_log_out_and_back_in(password_hash: str) -> None:
    async with live_stack(demo_crm(), make_users(password_hash)) as stack:
        pbx = stack.pbx
        assert pbx is not None
        await pbx.queue_logout("1003", "sales")
        removed = await _until(
            stack,
            lambda e: isinstance(e, QueueMemberRemoved) and e.queue == "sales",
            "a member removed",
        )
        assert isinstance(removed, QueueMemberRemoved) and removed.agent == "1003"
        stack.events.clear()
        await pbx.queue_login("1003", "sales", "Reza Karimi")
        added = await _until(
            stack,
            lambda e: isinstance(e, QueueMemberChanged) and e.queue == "sales",
            "a member added",
        )
        assert isinstance(added, QueueMemberChanged)
        assert (added.agent, added.interface) == ("1003", "Local/1003@from-queue/n")
