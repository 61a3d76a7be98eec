"""The agent panel in real headless Chromium, fed by the simulated PBX over AMI."""

from __future__ import annotations

import datetime as dt

import jdatetime
import pytest
from playwright.async_api import Browser, expect

from pbx_adapters.simulator.spec import CallPlan
from tests.popup_server.conftest import PASSWORD, artifact, demo_crm, make_users
from tests.popup_server.live_stack import live_stack

pytestmark = pytest.mark.browser


async def test_agent_logs_in_gets_a_pop_dials_from_phonebook_and_reads_persian(
    password_hash: str, browser: Browser
) -> None:
    crm = demo_crm()
    async with live_stack(crm, make_users(password_hash)) as stack:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        # The tab counts as hidden, with a Notification that records instead of showing.
        await page.add_init_script(
            """
            window.__notifications = [];
            window.Notification = function (title, options) {
              window.__notifications.push([title, options.body]);
            };
            window.Notification.permission = "granted";
            Object.defineProperty(document, "hidden", { get: () => true });
            """
        )
        await page.goto(stack.url + "/")
        await page.fill("#username", "ali")
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("#link-state")).to_have_class("link-state connected")
        await expect(page.locator("#whoami")).to_contain_text("Ali Rezaei")

        # A customer calls the support line; agent 1001 rings, then answers.
        stack.simulator.place_inbound_call(
            CallPlan(caller="+982188776655", did="2188000000", answer_delay=1.5, talk=60)
        )
        pop = page.locator(".pop").first
        await expect(pop.locator(".pop-title")).to_have_text("Nasrin Tehrani", timeout=10_000)
        await expect(pop).to_have_attribute("data-state", "ringing")
        await expect(pop.locator(".pop-head .vip")).to_be_visible()
        await expect(pop).to_contain_text("40012345")
        await expect(pop).to_contain_text("Gold")
        assert await page.evaluate("window.__notifications") == [
            ["Incoming call", "Nasrin Tehrani"]
        ]
        await expect(pop).to_have_attribute("data-state", "talking", timeout=10_000)

        # A case opened during the call: its tracking code is shown to read out.
        await pop.locator(".case-form input[name=subject]").fill("Router keeps rebooting")
        await pop.locator(".case-form button").click()
        await expect(pop.locator(".case-result")).to_have_class("case-result code-big")
        case = next(c for c in crm.cases.values() if c.subject.startswith("Router"))
        await expect(pop.locator(".case-result")).to_contain_text(case.tracking_code)
        await pop.screenshot(path=str(artifact("pop_en.png")))

        # Pause with a reason: the QueuePause reaches the PBX and comes back as state.
        await page.select_option("#pause-reason", "lunch")
        await page.click("#pause-btn")
        await expect(page.locator("#pause-state")).to_contain_text("support (Lunch)")
        await expect(page.locator("#pause-btn")).to_have_text("Resume work")

        # Click-to-call from the phonebook: the Originate reaches the simulated PBX.
        await page.fill("#pb-query", "laleh")
        await page.click("#pb-form button[type=submit]")
        dial = page.locator("#pb-results button.dial").first
        await expect(dial).to_have_attribute("data-number", "+982177665544")
        await dial.click()

        def originated() -> bool:
            return any(
                dict(fields).get("Event") == "Newchannel"
                and dict(fields).get("Channel", "").startswith("Local/1001@agent-handset")
                for fields in stack.pbx_events
            )

        for _ in range(100):
            if originated():
                break
            await page.wait_for_timeout(50)
        assert originated(), "no Originate from 1001 reached the simulator"

        # Persian: right-to-left, Persian strings, Jalali dates.
        await page.click("#lang-btn")
        assert await page.evaluate("document.documentElement.dir") == "rtl"
        assert await page.evaluate("document.documentElement.lang") == "fa"
        await expect(page.locator("#link-text")).to_have_text("متصل")
        # Dates through the browser's own Intl (persian calendar), checked against jdatetime.
        jalali = await page.evaluate("Ctihub.dateText('2026-11-28')")
        expected = jdatetime.date.fromgregorian(date=dt.date(2026, 11, 28))
        assert jalali == f"{expected.year}/{expected.month:02d}/{expected.day:02d}".translate(
            str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
        )
        # The contract ends on 2027-03-20, which is 1405/12/29 in the Jalali calendar.
        await expect(pop.locator(".contract")).to_contain_text("۱۴۰۵/۱۲/۲۹")
        await page.screenshot(path=str(artifact("pop_fa.png")), full_page=True)
