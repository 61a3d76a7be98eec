"""An agent's working day in real Chromium against the simulated PBX, in English and Persian:
hold, attended and blind transfer, hang up, after-call work, outbound pop, a customer created
from an unknown caller, queue log-out and log-in, history search; and the logged-out pages
show only the login box. Screenshots at 1366x768 in tests/artifacts."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from pbx_adapters.simulator.spec import CallPlan
from tests.popup_server.conftest import PASSWORD, artifact, demo_crm, make_users
from tests.popup_server.live_stack import LiveStack, live_stack

pytestmark = pytest.mark.browser

LABELS = {
    "en": {"hold": "Hold", "resume": "Resume", "logout": "Log out", "login": "Log in"},
    "fa": {
        "hold": "نگه‌داشتن",
        "resume": "ادامه مکالمه",
        "logout": "خروج از صف",
        "login": "ورود به صف",
    },
}


async def _login(page: Page, stack: LiveStack, lang: str) -> None:
    await page.goto(stack.url + "/")
    if lang == "fa":
        await page.click("#lang-btn")
    await page.fill("#username", "ali")
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#link-state")).to_have_class("link-state connected")


async def _answered_pop(page: Page, stack: LiveStack, caller: str) -> Locator:
    stack.simulator.place_inbound_call(
        CallPlan(caller=caller, did="2188000000", answer_delay=0.5, talk=300)
    )
    pop = page.locator(".pop:not(.acw)").first
    await expect(pop).to_have_attribute("data-state", "talking", timeout=15_000)
    return pop


@pytest.mark.parametrize("lang", ["en", "fa"])
async def test_logged_out_pages_show_only_the_login_box(
    password_hash: str, browser: Browser, lang: str
) -> None:
    async with live_stack(demo_crm(), make_users(password_hash)) as stack:
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        for path, working in (("/", "#workspace"), ("/supervisor", "main > :not(#login)")):
            await page.goto(stack.url + path)
            if lang == "fa" and await page.evaluate("document.documentElement.lang") != "fa":
                await page.click("#lang-btn")
            await expect(page.locator("#login")).to_be_visible()
            for node in await page.locator(working).all():
                await expect(node).to_be_hidden()
        await page.goto(stack.url + "/")
        await page.screenshot(path=str(artifact(f"logged_out_{lang}.png")))


@pytest.mark.parametrize("lang", ["en", "fa"])
async def test_an_agents_day_in_the_panel(password_hash: str, browser: Browser, lang: str) -> None:
    crm = demo_crm()
    now = dt.datetime.now(dt.UTC)
    crm.calls.append(
        {
            "call_id": "old.1",
            "agent": "1001",
            "caller": "+989121234567",
            "customer_name": "Laleh Farahani",
            "queue": "support",
            "disposition": "answered",
            "talk_seconds": 75,
            "started_at": (now - dt.timedelta(minutes=1)).isoformat(),
        }
    )
    async with live_stack(crm, make_users(password_hash)) as stack:
        pbx = stack.pbx
        assert pbx is not None
        # Only 1001 takes queue calls; 1002 and 1003 still take transfers.
        await pbx.queue_pause("1002", True, None)
        await pbx.queue_pause("1003", True, None)
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        page.on("dialog", lambda dialog: dialog.accept())
        await _login(page, stack, lang)
        words = LABELS[lang]

        # Hold and resume (Alt+H), then an attended transfer to 1002 chosen from the list.
        pop = await _answered_pop(page, stack, "+982188776655")
        await page.keyboard.press("Alt+h")
        await expect(pop.locator(".hold-btn")).to_have_text(words["resume"])
        await expect(pop).to_have_attribute("data-state", "held")
        await pop.locator(".hold-btn").click()
        await expect(pop.locator(".hold-btn")).to_have_text(words["hold"])
        await page.screenshot(path=str(artifact(f"panel_call_{lang}.png")))
        await pop.locator(".transfer-btn").click()
        await expect(
            pop.locator(".transfer-form select[name=agent] option[value='1002']")
        ).to_have_count(1)
        await pop.locator(".transfer-form select[name=agent]").select_option("1002")
        await pop.locator(".transfer-form button[value=attended]").click()
        for _ in range(100):
            if any(
                type(e).__name__ == "CallAnswered" and getattr(e, "agent", None) == "1002"
                for e in stack.events
            ):
                break
            await page.wait_for_timeout(100)
        await pop.locator(".hangup-btn").click()  # completes the attended transfer
        acw = page.locator(".pop.acw").first
        await expect(acw).to_be_visible(timeout=10_000)
        await expect(acw.locator(".acw-timer")).to_be_visible()
        await page.screenshot(path=str(artifact(f"panel_acw_{lang}.png")))
        await acw.locator(".dismiss-btn").click()
        await expect(page.locator(".pop.acw")).to_have_count(0)

        # A blind transfer to a number (1003), then a call the agent hangs up and wraps up.
        pop = await _answered_pop(page, stack, "+989121234567")
        await pop.locator(".transfer-btn").click()
        await pop.locator(".transfer-form input[name=number]").fill("1003")
        await pop.locator(".transfer-form button[value=blind]").click()
        await expect(page.locator(".pop.acw")).to_have_count(1, timeout=10_000)
        await page.locator(".pop.acw .dismiss-btn").click()

        pop = await _answered_pop(page, stack, "+982188776655")
        await pop.locator(".hangup-btn").click()
        acw = page.locator(".pop.acw").first
        await expect(acw).to_be_visible(timeout=10_000)
        await acw.locator("textarea[name=note]").fill("Router replaced")
        await page.keyboard.press("Alt+s")
        await expect(page.locator(".pop.acw")).to_have_count(0, timeout=10_000)
        assert [n["body"] for n in crm.notes] == ["Router replaced"]

        # An unknown caller becomes a customer from the pop, number filled in.
        pop = await _answered_pop(page, stack, "+989350001122")
        create = pop.locator(".create-form")
        await expect(create.locator("input[name=number]")).to_have_value("+989350001122")
        await create.locator("input[name=name]").fill("پریسا نوری")
        await create.locator("button[type=submit]").click()
        await expect(pop.locator(".pop-name")).to_have_text("پریسا نوری")
        info = await crm.lookup("+989350001122")
        assert [c["name"] for c in info.customers] == ["پریسا نوری"]
        await pop.locator(".hangup-btn").click()
        await page.locator(".pop.acw .dismiss-btn").click()

        # Click-to-call pops the dialled customer, and "Calling…" clears.
        await page.fill("#pb-query", "laleh")
        await page.click("#pb-form button[type=submit]")
        await page.locator("#pb-results button.dial").first.click()
        outbound = page.locator(".pop[data-direction=outbound]")
        await expect(outbound.locator(".pop-name")).to_have_text("Laleh Farahani", timeout=15_000)
        await expect(page.locator("#pb-status")).to_have_text("")
        await page.screenshot(path=str(artifact(f"panel_outbound_{lang}.png")))

        # Queues: log out of sales and back in.
        await page.click("#queues-btn")
        sales = page.locator("#queue-list li[data-queue=sales] button")
        await expect(sales).to_have_text(words["logout"])
        await sales.click()
        await expect(sales).to_have_text(words["login"], timeout=10_000)
        await sales.click()
        await expect(sales).to_have_text(words["logout"], timeout=10_000)
        await page.click("#queues-btn")

        # History: search by part of a number; a call without a recording has no ▶.
        await page.fill("#history-form input[name=q]", "1234567")
        await page.click("#history-form button[type=submit]")
        row = page.locator("#today-body tr[data-call-id='old.1']")
        await expect(row).to_have_count(1)
        await expect(row.locator("button.play")).to_have_count(0)
        await expect(row.locator(".no-recording")).to_have_count(1)
        await page.screenshot(path=str(artifact(f"panel_day_{lang}.png")))
