"""The admin page in real Chromium over the whole hub (simulated PBX, real database):
an admin creates an agent and maps an extension, the agent gets the pop of a call to it,
and disabling the agent logs their open panel out."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from crm_sync.commands import DEMO_PASSWORD
from ctihub.daemon import Hub
from ctihub.settings import load_settings
from pbx_adapters.simulator.spec import CallPlan
from tests.popup_server.conftest import artifact

pytestmark = pytest.mark.browser

QUIET_LAB = """
[pbx]
preset = "lab"
start_epoch = 1795392474
seed = 1

[[actions]]
at = 0.0
action = "QueuePause"
Interface = "Local/1002@from-queue/n"
Paused = true
Reason = "lab"

[[actions]]
at = 0.0
action = "QueuePause"
Interface = "Local/1003@from-queue/n"
Paused = true
Reason = "lab"
"""


def _hub(tmp_path: Path) -> Hub:
    scenario = tmp_path / "quiet.toml"
    scenario.write_text(QUIET_LAB)
    env = {
        "CTIHUB_PBX": "simulator",
        "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3",
        "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "spool"),
        "CTIHUB_SIMULATOR__SCENARIO": str(scenario),
        "CTIHUB_SIMULATOR__PORT": "0",
        "CTIHUB_AGI__PORT": "0",
        "CTIHUB_HTTP__PORT": "0",
        "CTIHUB_HTTP__HOST": "127.0.0.1",
    }
    return Hub(load_settings(None, env=env), demo=True)


async def _login(page: Page, url: str, username: str, password: str) -> None:
    await page.goto(url)
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-form button[type=submit]")


async def test_admin_creates_an_agent_who_gets_the_pop_and_is_logged_out_when_disabled(
    tmp_path: Path, browser: Browser
) -> None:
    hub = _hub(tmp_path)
    await hub.start()
    try:
        assert hub.panel_url is not None and hub.simulator is not None
        base = hub.panel_url.rstrip("/")
        admin = await browser.new_page(viewport={"width": 1366, "height": 768})
        await _login(admin, base + "/admin", "admin", DEMO_PASSWORD)
        await expect(admin.locator("#people-body tr[data-username=ali]")).to_be_visible()

        # 1001 is the demo's Ali's: refused for someone else, naming him, until unmapped.
        form = admin.locator("#person-form")
        await form.locator("[name=username]").fill("neda")
        await form.locator("[name=name]").fill("ندا کریمی")
        await form.locator("[name=password]").fill("blue-orchid-2026")
        await form.locator("[name=extensions]").fill("Local/1001@from-queue/n")
        await form.locator("button[type=submit]").click()
        await expect(admin.locator("#notice")).to_contain_text("Ali Rezaei (ali)")
        await expect(form.locator("[name=extensions]")).to_have_attribute("aria-invalid", "true")

        await admin.click("[data-tab=devices]")
        row = admin.locator('#devices-body tr[data-interface="Local/1001@from-queue/n"]')
        await row.locator("button").click()
        await expect(row).to_contain_text("not mapped")
        await admin.click("[data-tab=people]")
        await form.locator("button[type=submit]").click()
        neda_row = admin.locator("#people-body tr[data-username=neda]")
        await expect(neda_row).to_contain_text("Local/1001@from-queue/n")
        await admin.screenshot(path=str(artifact("admin_people_en.png")))

        # Neda logs in to the agent panel and gets the pop of a call ringing 1001.
        agent = await browser.new_page(viewport={"width": 1366, "height": 768})
        await _login(agent, base + "/", "neda", "blue-orchid-2026")
        await expect(agent.locator("#link-state")).to_have_class("link-state connected")
        hub.simulator.place_inbound_call(
            CallPlan(caller="+982188776655", did="2188000000", answer_delay=30, talk=30)
        )
        pop = agent.locator(".pop").first
        await expect(pop.locator(".pop-title")).to_have_text("Nasrin Tehrani", timeout=10_000)

        # Disabled: her open panel is logged out at once.
        admin.on("dialog", lambda dialog: dialog.accept())
        await neda_row.locator("button").first.click()
        await expect(neda_row).to_have_class("disabled")
        await expect(agent.locator("#login")).to_be_visible(timeout=5_000)
        await expect(agent.locator(".pop")).to_have_count(0)

        # The audit log shows each change, by the admin.
        await admin.click("[data-tab=audit]")
        audit = admin.locator("#audit-body")
        await expect(audit).to_contain_text("user.disable")
        await expect(audit).to_contain_text("extension.unmap")
        await admin.screenshot(path=str(artifact("admin_audit_en.png")))
        await admin.click("#lang-btn")
        await expect(admin.locator("html")).to_have_attribute("dir", "rtl")
        await admin.click("[data-tab=people]")
        await expect(neda_row).to_contain_text("غیرفعال")
        await admin.screenshot(path=str(artifact("admin_people_fa.png")))
        await admin.click("[data-tab=queues]")
        await admin.screenshot(path=str(artifact("admin_queues_fa.png")))
    finally:
        await hub.stop()
