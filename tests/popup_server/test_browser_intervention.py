"""Intervention from the wallboard in Chromium, against the simulated PBX over AMI: the
buttons send QueuePause, QueueRemove and an Originate of ChanSpy with the right options to
the supervisor's own phone; refused to agents; every action audited. Wall-screen mode."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from pbx_adapters.simulator.spec import CallPlan
from popup_server.auth import User
from tests.popup_server.conftest import PASSWORD, artifact, demo_crm, make_users
from tests.popup_server.live_stack import LiveStack, live_stack
from tests.popup_server.memory_backend import InMemoryUserStore, MemoryAudit

pytestmark = pytest.mark.browser


def users_with_a_supervisor_phone(password_hash: str) -> InMemoryUserStore:
    users = make_users(password_hash)
    users.add(User(9, "nima", "Nima Azadi", "supervisor", ("1009",), "en"), password_hash)
    return users


def pbx_events(stack: LiveStack, name: str) -> list[dict[str, str]]:
    return [dict(f) for f in stack.pbx_events if dict(f).get("Event") == name]


async def log_in(page: Page, stack: LiveStack, username: str) -> None:
    await page.goto(stack.url + "/supervisor")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#link-state")).to_have_class("link-state connected")


async def test_wallboard_buttons_reach_the_simulated_pbx_and_are_audited(
    password_hash: str, browser: Browser
) -> None:
    crm = demo_crm()
    async with live_stack(crm, users_with_a_supervisor_phone(password_hash)) as stack:
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        await log_in(page, stack, "nima")
        row = page.locator('#agent-body tr[data-agent="1001"]')
        await expect(row).to_have_attribute("data-state", "idle")
        # Listening needs a call: the buttons wait for one.
        await expect(row.locator('button[data-action="listen"]')).to_be_disabled()

        # Pause, then resume: QueuePause on the agent's member interface.
        await row.locator('button[data-action="pause"]').click()
        await expect(row).to_have_attribute("data-state", "paused", timeout=10_000)
        pauses = pbx_events(stack, "QueueMemberPause")
        assert pauses[-1]["Interface"] == "Local/1001@from-queue/n"
        assert (pauses[-1]["Paused"], pauses[-1]["PausedReason"]) == ("1", "supervisor")
        await row.locator('button[data-action="unpause"]').click()
        await expect(row).to_have_attribute("data-state", "idle", timeout=10_000)

        # A caller reaches an agent: listen, whisper and barge ring the supervisor's phone.
        stack.simulator.place_inbound_call(
            CallPlan(caller="+982188776655", did="2188000000", answer_delay=1.0, talk=60)
        )
        talking = page.locator('#agent-body tr[data-state="talking"]')
        await expect(talking).to_have_count(1, timeout=10_000)
        agent = await talking.get_attribute("data-agent")
        assert agent is not None
        for mode in ("listen", "whisper", "barge"):
            await talking.locator(f'button[data-action="{mode}"]').click()
            await expect(page.locator("#action-status")).to_contain_text(mode.capitalize())
        spies = stack.simulator.model.spies
        assert [(s.channel, s.prefix, s.options) for s in spies] == [
            ("Local/1009@agent-handset/n", f"Local/{agent}@from-queue-", o)
            for o in ("q", "qw", "qB")
        ]
        # The simulator found the agent's live channel for each.
        assert all(s.spied and s.spied.startswith(f"Local/{agent}@from-queue-") for s in spies)
        assert len(pbx_events(stack, "ChanSpyStart")) == 3
        await page.screenshot(path=str(artifact("wallboard_intervention.png")), full_page=True)
        await page.click("#lang-btn")
        await expect(talking.locator('button[data-action="barge"]')).to_have_text("ورود به مکالمه")
        await page.screenshot(path=str(artifact("wallboard_intervention_fa.png")), full_page=True)
        await page.click("#lang-btn")

        # Log out of queues: QueueRemove from every queue the agent is in.
        other = "1001" if agent != "1001" else "1002"
        await page.locator(
            f'#agent-body tr[data-agent="{other}"] button[data-action="logout"]'
        ).click()
        await expect(page.locator(f'#agent-body tr[data-agent="{other}"]')).to_have_count(
            0, timeout=10_000
        )
        assert pbx_events(stack, "QueueMemberRemoved")[-1]["Interface"] == (
            f"Local/{other}@from-queue/n"
        )
        assert isinstance(stack.audit, MemoryAudit)
        actions = [(e["actor"], e["action"], e["target"]) for e in stack.audit.entries]
        assert actions == [
            ("nima", "agent.pause", "agent:1001"),
            ("nima", "agent.unpause", "agent:1001"),
            ("nima", "agent.listen", f"agent:{agent}"),
            ("nima", "agent.whisper", f"agent:{agent}"),
            ("nima", "agent.barge", f"agent:{agent}"),
            ("nima", "agent.logout", f"agent:{other}"),
        ]


async def test_agents_are_refused_and_bad_input_is_named(password_hash: str) -> None:
    async with live_stack(demo_crm(), users_with_a_supervisor_phone(password_hash)) as stack:
        async with aiohttp.ClientSession() as session:

            async def post(user: str, path: str, body: object) -> tuple[int, str]:
                login = await session.post(
                    f"{stack.url}/api/v1/login", json={"username": user, "password": PASSWORD}
                )
                token = (await login.json())["token"]
                response = await session.post(
                    f"{stack.url}/api/v1/supervisor/agents/{path}",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                return response.status, (await response.json()).get("error", "")

            for _ in range(50):  # the board learns the members from the PBX first
                if (await post("nima", "1001/pause", {"paused": "yes"}))[0] == 400:
                    break
                await asyncio.sleep(0.1)
            assert (await post("ali", "1002/pause", {"paused": True}))[0] == 403
            status, error = await post("nima", "1001/pause", {"paused": "yes"})
            assert (status, error.split(":")[0]) == (400, "paused")
            assert (await post("nima", "9999/pause", {"paused": True}))[0] == 404
            status, error = await post("nima", "1001/spy", {"mode": "eavesdrop"})
            assert (status, error.split(":")[0]) == (400, "mode")
            status, error = await post("nima", "1001/spy", {"mode": "listen"})
            assert (status, error) == (409, "extension: 1001 is not on a call")
            # Maryam has no phone of her own to listen on.
            status, error = await post("maryam", "1001/spy", {"mode": "listen"})
            assert status == 409
        assert isinstance(stack.audit, MemoryAudit)
        assert stack.audit.entries == []


async def test_wall_screen_fits_1920_by_1080_without_scrolling(
    password_hash: str, browser: Browser
) -> None:
    async with live_stack(demo_crm(), make_users(password_hash)) as stack:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await page.goto(stack.url + "/supervisor?wall=1")
        await page.fill("#username", "maryam")
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("#agent-body tr")).to_have_count(3)
        stack.simulator.place_inbound_call(
            CallPlan(caller="+982188776655", did="2188000000", answer_delay=30.0, talk=60)
        )
        await expect(page.locator("#caller-body tr")).to_have_count(1, timeout=10_000)
        await expect(page.locator("#caller-body .customer")).to_have_text(
            re.compile(r"Nasrin Tehrani"), timeout=10_000
        )
        assert await page.evaluate("document.body.classList.contains('wall')")
        sizes = await page.evaluate(
            "[document.documentElement.scrollHeight, document.documentElement.scrollWidth]"
        )
        assert sizes[0] <= 1080 and sizes[1] <= 1920
        font = await page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('#queue-body td')).fontSize)"
        )
        assert font >= 22
        await page.screenshot(path=str(artifact("wallboard_wall_1920.png")))
        await page.click("#lang-btn")
        await page.screenshot(path=str(artifact("wallboard_wall_1920_fa.png")))
