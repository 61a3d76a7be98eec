"""/api/v1/alerts over the real CRM: who sees which alert, acknowledgement, the live messages."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from crm_sync.alerts import AlertService, AlertStore
from crm_sync.audit import AuditLog
from cti.alerts import Alert, AlertEngine
from tests.ctihub.panel_stack import crm_panel
from tests.popup_server.conftest import ORIGIN, receive_json
from tests.popup_server.memory_backend import RecordingPbx


async def test_agents_see_their_own_alerts_live_and_a_supervisor_acknowledges_them(
    tmp_path: Path,
) -> None:
    async with crm_panel(tmp_path, RecordingPbx()) as panel, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            panel.url.replace("http", "ws") + "/ws/agent", headers={"Origin": ORIGIN}
        )
        await ws.send_json({"type": "auth", "token": await panel.token("sara")})
        while (await receive_json(ws))["type"] != "snapshot_done":
            pass
        service = AlertService(AlertStore(panel.database), panel.bus, AlertEngine())
        now = time.time()
        [own, other] = await service.raise_alerts(
            [
                Alert("ring_no_answer:1002:1", "ring_no_answer", now, "support", "1002",
                      subject="1002", value=3, threshold=3),
                Alert("caller_waiting:c9", "caller_waiting", now, "support", None, "c9",
                      subject="+982188776655", value=130, threshold=120),
            ]
        )  # fmt: skip
        live = await receive_json(ws)
        assert live["type"] == "alert"
        assert (live["alert"]["alert_id"], live["alert"]["rule"]) == (
            own.alert_id,
            "ring_no_answer",
        )

        status, body = await panel.call("sara", "GET", "/alerts")
        assert status == 200 and [a["alert_id"] for a in body["alerts"]] == [own.alert_id]
        status, body = await panel.call("ali", "GET", "/alerts")
        assert body["alerts"] == []
        status, body = await panel.call("maryam", "GET", "/alerts")
        assert {a["alert_id"] for a in body["alerts"]} == {own.alert_id, other.alert_id}

        status, body = await panel.call("sara", "POST", f"/alerts/{own.alert_id}/ack")
        assert status == 403
        status, body = await panel.call("maryam", "POST", "/alerts/abc/ack")
        assert status == 400 and "alert_id" in body["error"]
        status, body = await panel.call("maryam", "POST", f"/alerts/{own.alert_id}/ack")
        assert status == 200 and body["acknowledged_at"] is not None
        assert await receive_json(ws) == {
            "v": 1,
            "type": "alert_acknowledged",
            "alert_id": own.alert_id,
        }
        [entry] = await AuditLog(panel.database).entries(action="alert.")
        assert (entry.actor, entry.action, entry.target) == (
            "maryam",
            "alert.acknowledge",
            f"alert:{own.alert_id}",
        )
        status, body = await panel.call("maryam", "POST", f"/alerts/{own.alert_id}/ack")
        assert status == 404
        status, body = await panel.call("maryam", "GET", "/alerts")
        assert [a["alert_id"] for a in body["alerts"]] == [other.alert_id]
        await ws.close()
