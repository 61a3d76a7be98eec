"""The reports API and page over a real call log (SQLite): roles, bad input named, JSON and
CSV with the same figures as ``ctihub report``; and the page with its charts in Chromium."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.settings import DatabaseConfig
from cti.settings import FiguresConfig
from ctihub.panel_backend import CrmReports
from popup_server.app import create_app, start_server
from tests.popup_server.conftest import (
    PASSWORD,
    artifact,
    crm_backends,
    demo_crm,
    make_config,
    make_users,
)
from tests.popup_server.memory_backend import RecordingPbx

# Tehran time: 10:05, 10:20, 10:40 and 11:10 on 2026-11-23 (+03:30), one on the 24th.
CALLS = [
    ("a", "2026-11-23 06:35:00", "support", "1001", "answered", 10, 100),
    ("b", "2026-11-23 06:50:00", "support", "1002", "answered", 35, 200),
    ("c", "2026-11-23 07:10:00", "support", None, "abandoned", 40, None),
    ("d", "2026-11-23 07:40:00", "sales", "1003", "answered", 5, 60),
    ("e", "2026-11-24 06:00:00", "support", "1001", "answered", 15, 80),
]


@dataclass
class ReportServer:
    url: str

    async def get(self, path: str, user: str | None = "maryam") -> tuple[int, str, str]:
        async with aiohttp.ClientSession() as session:
            headers = {}
            if user:
                login = await session.post(
                    f"{self.url}/api/v1/login", json={"username": user, "password": PASSWORD}
                )
                headers["Authorization"] = f"Bearer {(await login.json())['token']}"
            response = await session.get(self.url + path, headers=headers)
            return response.status, response.content_type, await response.text()


@asynccontextmanager
async def report_server(tmp_path: Path, password_hash: str) -> AsyncIterator[ReportServer]:
    url = f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3"
    await upgrade(url)
    with sqlite3.connect(tmp_path / "crm.sqlite3") as db:
        db.executemany(
            "INSERT INTO call_records (call_id, direction, started_at, queue, agent, disposition,"
            " wait_seconds, talk_seconds, transfer_count, details, written_at)"
            " VALUES (?, 'inbound', ?, ?, ?, ?, ?, ?, 0, '{}', '2026-11-25 00:00:00')",
            CALLS,
        )
    database = Database(DatabaseConfig(url=url))
    backends = crm_backends(demo_crm(), make_users(password_hash), RecordingPbx())
    backends = dataclasses.replace(
        backends, reports=CrmReports(database, FiguresConfig(timezone="Asia/Tehran"))
    )
    runner, port = await start_server(create_app(make_config(), backends), "127.0.0.1", 0)
    try:
        yield ReportServer(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
        await database.dispose()


RANGE = "from=2026-11-23&to=2026-11-23"


async def test_reports_are_for_supervisors_and_name_the_bad_field(
    tmp_path: Path, password_hash: str
) -> None:
    async with report_server(tmp_path, password_hash) as server:
        assert (await server.get(f"/api/v1/reports/queues?{RANGE}", None))[0] == 401
        assert (await server.get(f"/api/v1/reports/queues?{RANGE}", "ali"))[0] == 403
        for path, field in [
            ("/api/v1/reports/cases?" + RANGE, "kind"),
            ("/api/v1/reports/queues?from=23/11/2026&to=2026-11-23", "from"),
            ("/api/v1/reports/queues?from=2026-11-23", "to"),
            ("/api/v1/reports/queues?from=2026-11-24&to=2026-11-23", "to"),
            ("/api/v1/reports/queues?from=2024-01-01&to=2026-11-23", "to"),
            (f"/api/v1/reports/queues?{RANGE}&interval=30", "interval"),
            (f"/api/v1/reports/calls?{RANGE}&interval=20", "interval"),
            (f"/api/v1/reports/calls?{RANGE}&format=xlsx", "format"),
            (f"/api/v1/reports/calls?{RANGE}&queue=" + "q" * 65, "queue"),
        ]:
            status, _, body = await server.get(path)
            assert status == 400, path
            assert json.loads(body)["error"].startswith(f"{field}:"), (path, body)


async def test_report_json_and_csv_carry_the_same_figures(
    tmp_path: Path, password_hash: str
) -> None:
    async with report_server(tmp_path, password_hash) as server:
        status, kind, body = await server.get(f"/api/v1/reports/queues?{RANGE}")
        assert (status, kind) == (200, "application/json")
        rows = {r["queue"]: r for r in json.loads(body)["rows"]}
        support = rows["support"]
        assert (support["offered"], support["answered"], support["abandoned"]) == (3, 2, 1)
        assert support["service_level_pct"] == round(100 * 1 / 3, 1)  # 10 s within 20 s
        assert (support["asa_s"], support["aht_s"]) == (22.5, 150.0)
        status, kind, text = await server.get(f"/api/v1/reports/queues?{RANGE}&format=csv")
        assert (status, kind) == (200, "text/csv")
        assert text.splitlines()[2].startswith("support,3,2,1,0,33.3,33.3,22.5,150.0,")
        status, _, body = await server.get(f"/api/v1/reports/calls?{RANGE}&interval=30")
        got = [(r["interval"], r["offered"]) for r in json.loads(body)["rows"]]
        assert got == [
            ("2026-11-23T10:00+03:30", 2),
            ("2026-11-23T10:30+03:30", 1),
            ("2026-11-23T11:00+03:30", 1),
        ]


@pytest.mark.browser
async def test_reports_page_with_charts_in_english_and_persian(
    tmp_path: Path, password_hash: str, browser: Browser
) -> None:
    async with report_server(tmp_path, password_hash) as server:
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        await page.goto(server.url + "/reports?from=2026-11-23&to=2026-11-24")
        await page.fill("#username", "maryam")
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        support = page.locator("#report-table tbody tr", has_text="support")
        await expect(support.locator("td.offered")).to_have_text("4")
        await expect(support.locator("td.service_level_pct")).to_have_text("50.0%")
        await expect(page.locator("#standard")).to_contain_text("Cisco Unified CCE")
        # Three charts drawn by Chart.js, each with its data.
        counts = await page.evaluate(
            "['chart-sl', 'chart-volume', 'chart-aht'].map("
            "id => Chart.getChart(id).data.datasets[0].data.length)"
        )
        assert counts[0] >= 4 and counts[2] == 3
        await page.screenshot(path=str(artifact("reports_en.png")), full_page=True)

        await page.click("#lang-btn")
        assert await page.evaluate("document.documentElement.dir") == "rtl"
        await expect(page.locator("h1")).to_have_text("گزارش‌ها")
        await expect(support.locator("td.offered")).to_have_text("۴")
        # Jalali: 2026-11-23 is 1405/09/02.
        await expect(page.locator("#from-text")).to_have_text("۱۴۰۵/۰۹/۰۲")
        sl = await page.evaluate("Chart.getChart('chart-sl').options.scales.x.reverse")
        assert sl is True
        legend_rtl = await page.evaluate(
            "Chart.getChart('chart-volume').options.plugins.legend.rtl"
        )
        assert legend_rtl is True
        await page.screenshot(path=str(artifact("reports_fa.png")), full_page=True)
        assert errors == []
