"""docs/events.md documents every websocket message and every field of a pop."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cti.events import AgentRinging
from cti.screenpop import POP_SCHEMA_VERSION, ScreenPops
from tests.popup_server.conftest import demo_crm, trace_events

DOC = (Path(__file__).parents[2] / "docs" / "events.md").read_text(encoding="utf-8")


async def test_every_message_type_and_pop_field_from_real_traces_is_documented() -> None:
    pops = ScreenPops()
    crm = demo_crm()
    messages = []
    for name in (
        "inbound_answered",
        "blind_transfer",
        "inbound_ringnoanswer_then_answered",
        "ivr_tracking_code",
    ):
        for event in trace_events(name):
            messages += [o.message for o in pops.handle(event)]
            if isinstance(event, AgentRinging):
                # The CRM answers after the ring: pending pops, then pop_updated.
                for request in pops.take_lookups():
                    found: Any = await (
                        crm.lookup(request.key)
                        if request.kind == "caller"
                        else crm.case_by_code(request.key or "")
                    )
                    messages += [o.message for o in pops.answer(request, found)]
    types = {m["type"] for m in messages}
    assert types == {"pop", "pop_updated", "call_update", "pop_withdrawn", "queue_member"}
    statuses = {m["call"]["match"]["status"] for m in messages if m["type"] == "pop"}
    assert "pending" in statuses
    for status in statuses:
        assert f"`{status}`" in DOC, status
    updated = next(m for m in messages if m["type"] == "pop_updated")
    for field in [*updated, *updated["call"]]:
        assert f'"{field}"' in DOC, field
    for kind in [*types, "hello", "snapshot_done", "subscribed", "pong", "error"]:
        assert f"#### `{kind}`" in DOC or f'"type": "{kind}"' in DOC, kind
    pop = next(m for m in messages if m["type"] == "pop")
    for field in [*pop, *pop["call"], *pop["call"]["caller"], *pop["call"]["match"]]:
        assert f'"{field}"' in DOC, field
    changes = {m["change"] for m in messages if m["type"] == "call_update"}
    for change in changes:
        assert f"`{change}`" in DOC, change
    assert f"Version **{POP_SCHEMA_VERSION}**" in DOC
    assert re.search(r"\b4001\b", DOC) and re.search(r"\b4003\b", DOC)


def test_every_domain_event_and_the_pbx_link_message_are_documented() -> None:
    from cti.events import EVENT_TYPES, PbxLinkChanged
    from popup_server.ws_agent import pbx_link_message

    for kind in EVENT_TYPES:
        assert f"`{kind}`" in DOC, kind
    message = pbx_link_message(PbxLinkChanged(state="auth_failed", detail="refused", at=1.0))
    assert f"#### `{message['type']}`" in DOC
    for field in message:
        assert f'"{field}"' in DOC, field
    for state in ("up", "down", "auth_failed"):
        assert f"`{state}`" in DOC, state


def test_the_alert_messages_on_an_agent_panel_are_documented() -> None:
    from cti.events import AlertAcknowledged, AlertRaised
    from popup_server.pop_feed import alert_message

    raised = AlertRaised(7, "case_overdue:11", "case_overdue", None, "1002", None, 11, 1,
                         "40012345", 26.5, 24.0, 1.0)  # fmt: skip
    message = alert_message(raised)
    assert f"#### `{message['type']}`" in DOC
    alert = message["alert"]
    assert isinstance(alert, dict)
    for field in [*message, *alert]:
        assert f'"{field}"' in DOC, field
    acknowledged = alert_message(AlertAcknowledged(7, "1002", "maryam", 2.0))
    assert f"`{acknowledged['type']}`" in DOC
    for field in acknowledged:
        assert f'"{field}"' in DOC, field
