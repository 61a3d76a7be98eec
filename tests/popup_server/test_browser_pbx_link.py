"""In Chromium: the agent panel and the wallboard warn in plain words when the PBX link is down."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from cti.events import PbxLinkChanged
from tests.popup_server.conftest import PASSWORD, PanelServer, artifact

pytestmark = pytest.mark.browser

DOWN_EN = "PBX link down — calls may ring without a pop"
DOWN_FA = "ارتباط با مرکز تلفن قطع است — ممکن است تماس‌ها بدون نمایش اطلاعات زنگ بخورند"


async def log_in(page: Page, server: PanelServer, username: str) -> None:
    await page.goto(server.url + "/")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#link-state")).to_have_class("link-state connected")


async def test_pbx_link_banner_in_english_and_persian_on_panel_and_wallboard(
    server: PanelServer, browser: Browser
) -> None:
    await server.publish([PbxLinkChanged(state="up", detail=None, at=1.0)])
    page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await log_in(page, server, "ali")
    banner = page.locator("#pbx-link")
    await expect(banner).to_have_text("PBX: connected")
    await expect(banner).to_have_class("pbx-link up")

    await server.publish([PbxLinkChanged(state="down", detail="connection lost", at=2.0)])
    await expect(banner).to_have_text(DOWN_EN)
    await expect(banner).to_have_class("pbx-link down")
    await page.click("#lang-btn")
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await expect(banner).to_have_text(DOWN_FA)
    await page.screenshot(path=str(artifact("pbx_link_down_fa.png")))

    # A wallboard opened while the link is down shows it at once, from its resume.
    wallboard = await browser.new_page(viewport={"width": 1280, "height": 720})
    await log_in(wallboard, server, "maryam")
    await expect(wallboard).to_have_url(re.compile(r"/supervisor$"))
    await expect(wallboard.locator("#pbx-link")).to_have_text(DOWN_EN)
    await server.publish([PbxLinkChanged(state="up", detail=None, at=3.0)])
    await expect(wallboard.locator("#pbx-link")).to_have_text("PBX: connected")
    await expect(banner).to_have_text("مرکز تلفن: متصل")
