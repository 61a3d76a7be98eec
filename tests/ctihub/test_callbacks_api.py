"""/api/v1/callbacks and /api/v1/calllists over the real CRM and a recording PBX."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from sqlalchemy import select

from crm_sync.audit import AuditLog
from crm_sync.models import CallAttempt, Callback, Customer
from cti.events import CallEnded, QueueMemberChanged
from popup_server.app import SUPERVISORS_KEY
from tests.crm_sync.test_callbacks import ABANDONED
from tests.ctihub.panel_stack import crm_panel
from tests.popup_server.memory_backend import RecordingPbx


def _member(agent: str, queue: str) -> QueueMemberChanged:
    return QueueMemberChanged(queue, agent, f"PJSIP/{agent}", None, "idle", False, None, False, 1.0)


async def test_an_agent_dials_a_callback_of_their_queue_and_a_supervisor_sees_it(
    tmp_path: Path,
) -> None:
    pbx = RecordingPbx()
    async with crm_panel(tmp_path, pbx, with_outbound=True) as panel:
        assert panel.callbacks is not None
        # Ali is a member of support right now (the live board says so); Sara is not.
        panel.app[SUPERVISORS_KEY].board.handle(_member("1001", "support"))
        unknown: CallEnded = dataclasses.replace(
            ABANDONED, caller="09120001122", ended_at=time.time()
        )
        await panel.callbacks.handle(unknown)

        status, body = await panel.call("ali", "GET", "/callbacks")
        assert status == 200
        [callback] = body["callbacks"]
        assert (callback["number"], callback["queue"], callback["callable_now"]) == (
            "09120001122",
            "support",
            True,
        )
        assert (await panel.call("sara", "GET", "/callbacks"))[1] == {"callbacks": []}
        status, body = await panel.call("maryam", "GET", "/callbacks")
        assert [c["id"] for c in body["callbacks"]] == [callback["id"]]

        status, body = await panel.call("ali", "POST", f"/callbacks/{callback['id']}/dial")
        assert status == 202 and body["extension"] == "1001"
        assert pbx.originated == [("1001", "09120001122")]
        status, body = await panel.call("sara", "POST", f"/callbacks/{callback['id']}/dial")
        assert status == 404 and body["reason"] == "not_found"
        status, body = await panel.call("ali", "POST", "/callbacks/x1/dial")
        assert status == 400 and "callback_id" in body["error"]
        status, body = await panel.call("maryam", "POST", f"/callbacks/{callback['id']}/dial")
        assert status == 409 and "extension" in body["error"]
        status, body = await panel.call("maryam", "GET", "/callbacks")
        assert body["callbacks"][0]["attempts"] == 1


async def test_a_do_not_call_customer_is_refused_and_the_pbx_is_not_asked(tmp_path: Path) -> None:
    pbx = RecordingPbx()
    async with crm_panel(tmp_path, pbx, with_outbound=True) as panel:
        assert panel.callbacks is not None
        await panel.callbacks.handle(
            dataclasses.replace(ABANDONED, caller="09120001122", ended_at=time.time())
        )
        panel.app[SUPERVISORS_KEY].board.handle(_member("1001", "support"))
        [callback] = (await panel.call("ali", "GET", "/callbacks"))[1]["callbacks"]
        async with panel.database.sessions() as session:
            customer = Customer(name="Later DNC", do_not_call=True)
            session.add(customer)
            await session.flush()
            row = await session.get(Callback, callback["id"])
            assert row is not None
            row.customer_id = customer.id
            await session.commit()
        status, body = await panel.call("ali", "POST", f"/callbacks/{callback['id']}/dial")
        assert status == 409 and body["reason"] == "do_not_call"
        assert pbx.originated == []
        async with panel.database.sessions() as session:
            assert (await session.scalars(select(CallAttempt))).all() == []


async def test_a_supervisor_loads_a_csv_list_an_agent_works_it_from_the_panel(
    tmp_path: Path,
) -> None:
    pbx = RecordingPbx()
    async with crm_panel(tmp_path, pbx, with_outbound=True) as panel:
        csv_text = "phone,name,reason\n09120001122,Walk-in,asked for a quote\n"
        body = {"name": "Quotes", "source": "csv", "csv": csv_text, "agents": ["ali"]}
        status, answer = await panel.call("ali", "POST", "/calllists", body)
        assert status == 403
        for bad, field in (
            ({**body, "source": "web"}, "source"),
            ({**body, "days": "7"}, "days"),
            ({**body, "agents": [], "queue": None}, "agents or queue"),
            ({**body, "agents": ["nobody"]}, "agents"),
            ({**body, "csv": "x\n1\n"}, "csv"),
        ):
            status, answer = await panel.call("maryam", "POST", "/calllists", bad)
            assert status == 400 and answer["error"].startswith(field), (bad, answer)
        status, answer = await panel.call("maryam", "POST", "/calllists", body)
        assert status == 201 and answer["entries"] == 1
        [audited] = await AuditLog(panel.database).entries(action="call_list.")
        assert (audited.actor, audited.target) == ("maryam", f"call_list:{answer['list_id']}")
        assert audited.after == {"name": "Quotes", "source": "csv", "agents": ["ali"],
                                 "queue": None, "entries": 1}  # fmt: skip

        status, answer = await panel.call("ali", "GET", "/calllists/next")
        entry = answer["entry"]
        assert (entry["name"], entry["reason"], entry["list_name"]) == (
            "Walk-in",
            "asked for a quote",
            "Quotes",
        )
        status, _ = await panel.call("ali", "POST", f"/calllists/entries/{entry['id']}/dial")
        assert status == 202 and pbx.originated == [("1001", "09120001122")]
        status, answer = await panel.call(
            "ali", "POST", f"/calllists/entries/{entry['id']}/outcome", {"outcome": "maybe"}
        )
        assert status == 400 and "outcome" in answer["error"]
        status, answer = await panel.call(
            "ali",
            "POST",
            f"/calllists/entries/{entry['id']}/outcome",
            {"outcome": "sale", "note": "two seats"},
        )
        assert status == 200 and answer["status"] == "done"
        assert (await panel.call("ali", "GET", "/calllists/next"))[1] == {"entry": None}
        status, answer = await panel.call("maryam", "GET", "/calllists")
        [progress] = answer["lists"]
        assert (progress["total"], progress["attempts"], progress["outcomes"]) == (
            1,
            1,
            {"sale": 1},
        )
        assert (await panel.call("ali", "GET", "/calllists"))[0] == 403
