"""The supervisor wallboard in real headless Chromium, fed by the simulated PBX over AMI."""

from __future__ import annotations

import datetime as dt
import re

import jdatetime
import pytest
from playwright.async_api import Browser, expect

from cti.settings import FiguresConfig
from pbx_adapters.simulator.spec import CallPlan
from tests.popup_server.conftest import PASSWORD, artifact, demo_crm, make_users
from tests.popup_server.live_stack import live_stack

pytestmark = pytest.mark.browser


async def test_supervisor_sees_a_caller_wait_then_an_agent_talk_in_english_and_persian(
    password_hash: str, browser: Browser
) -> None:
    crm = demo_crm()
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)).isoformat()
    # Logged earlier today: support answered one call of two (50 % under the 80 % target).
    crm.calls += [
        {"started_at": earlier, "queue": "support", "agent": "1002", "disposition": "answered",
         "wait_seconds": 5, "talk_seconds": 100},
        {"started_at": earlier, "queue": "support", "agent": None, "disposition": "abandoned",
         "wait_seconds": 70, "talk_seconds": None},
    ]  # fmt: skip
    users = make_users(password_hash)
    # A 1 s longest-wait target, so the waiting caller below raises the alert.
    async with live_stack(crm, users, figures=FiguresConfig(max_wait_seconds=1)) as stack:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        # A supervisor logging in on the agent panel is taken to the wallboard.
        await page.goto(stack.url + "/")
        await page.fill("#username", "maryam")
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await expect(page).to_have_url(re.compile(r"/supervisor$"))
        await expect(page.locator("#link-state")).to_have_class("link-state connected")
        support = page.locator('#queue-body tr[data-queue="support"]')
        await expect(support.locator(".offered")).to_have_text("2")
        await expect(support.locator(".sla")).to_have_text("50.0%")
        await expect(support).to_have_class("alert")
        await expect(page.locator('#agent-body tr[data-agent="1002"] .answered')).to_have_text("1")
        await expect(page.locator("#agent-body tr")).to_have_count(3)
        await expect(page.locator('#agent-body tr[data-state="idle"]')).to_have_count(3)

        # A customer calls support: one caller waits, then an agent answers.
        stack.simulator.place_inbound_call(
            CallPlan(caller="+982188776655", did="2188000000", answer_delay=3.5, talk=60)
        )
        await expect(support.locator(".waiting")).to_have_text("1", timeout=10_000)
        await expect(support.locator(".longest")).to_have_text(re.compile(r"^0:0\d$"))
        await expect(page.locator("#alerts")).to_contain_text(
            re.compile(r"support: longest wait 0:0[23] over 0:01"), timeout=5_000
        )
        talking = page.locator('#agent-body tr[data-state="talking"]')
        await expect(talking).to_have_count(1, timeout=10_000)
        await expect(talking.locator(".caller")).to_have_text("+982188776655")
        await expect(support.locator(".waiting")).to_have_text("0")
        await expect(support.locator(".offered")).to_have_text("3")
        await expect(support.locator(".answered")).to_have_text("2")
        await expect(page.locator("#alerts")).not_to_contain_text("longest wait")
        await expect(page.locator("#alerts")).to_contain_text(
            "support: service level 66.7% under 80.0%"
        )
        await page.screenshot(path=str(artifact("wallboard.png")), full_page=True)

        # Persian: right-to-left, Persian digits, a Jalali date.
        await page.click("#lang-btn")
        assert await page.evaluate("document.documentElement.dir") == "rtl"
        await expect(page.locator("h1")).to_have_text("تابلوی نظارت")
        await expect(support.locator(".offered")).to_have_text("۳")
        today = jdatetime.date.fromgregorian(date=dt.date.today())
        jalali = f"{today.year}/{today.month:02d}/{today.day:02d}"
        await expect(page.locator("#today")).to_contain_text(
            jalali.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
        )
        await page.screenshot(path=str(artifact("wallboard_fa.png")), full_page=True)
