"""GET /api/v1/calls/{call_id}/recording: who may play what, byte ranges, real files."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import insert

from crm_sync.call_log import record_values
from crm_sync.db import Database
from crm_sync.migrations import upgrade
from crm_sync.models import CallRecord
from crm_sync.settings import DatabaseConfig
from cti.events import CallEnded
from ctihub.panel_backend import CrmRecordings
from recordings.library import RecordingLibrary
from recordings.locate import RecordingLocator
from recordings.media import Transcoder
from tests.popup_server.conftest import (
    PASSWORD,
    PanelServer,
    serve_panel,
    trace_events,
)
from tests.popup_server.memory_backend import MemoryRecordings
from tests.recordings.conftest import need_ffmpeg

RECORDINGS = Path(__file__).parents[1] / "fixtures" / "recordings"
INBOUND = "in-2188000000-982188776655-20261123-000754-1795392474.1.wav"
OUTBOUND = "out-02177665544-1002-20261123-000825-1795392505.16.wav"
SPOOL = "/var/spool/asterisk/monitor/2026/11/23"
SIZE = 22764  # bytes of each fixture file


@pytest.fixture
def monitor(tmp_path: Path) -> Path:
    root = tmp_path / "pbx-monitor"
    (root / "2026/11/23").mkdir(parents=True)
    for name in (INBOUND, OUTBOUND):
        shutil.copyfile(RECORDINGS / name, root / "2026/11/23" / name)
    return root


def library(monitor: Path, transcoder: Transcoder | None = None) -> RecordingLibrary:
    return RecordingLibrary(
        RecordingLocator([monitor], {"/var/spool/asterisk/monitor": str(monitor)}), transcoder
    )


@pytest.fixture
async def recordings(monitor: Path) -> MemoryRecordings:
    store = MemoryRecordings(library(monitor))
    # inbound_answered: 1001 answered. click_to_call: 1002's own call.
    store.add("1795392474.0", f"{SPOOL}/{INBOUND}", ("1001",))
    store.add("1795392505.16", f"{SPOOL}/{OUTBOUND}", ("1002",))
    # blind_transfer: 1001 answered, then passed the caller to 1003.
    store.add("1795392514.20", f"{SPOOL}/{INBOUND}", ("1001", "1003"))
    store.add("1795392576.77", f"{SPOOL}/in-2188000000--20261123-000936-1795392576.77.wav", ())
    store.add("9.1", "/var/spool/asterisk/monitor/../../../../etc/passwd", ("1001",))
    return store


@pytest.fixture
async def server(
    password_hash: str, database_url: str, recordings: MemoryRecordings
) -> AsyncIterator[PanelServer]:
    async with serve_panel(password_hash, database_url, recordings) as panel:
        yield panel


async def fetch(
    server: PanelServer,
    call_id: str,
    username: str | None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> tuple[int, dict[str, str], bytes]:
    sent = dict(headers or {})
    if username is not None:
        sent["Authorization"] = f"Bearer {await server.token(username)}"
    async with aiohttp.ClientSession() as session:
        response = await session.get(
            f"{server.url}/api/v1/calls/{call_id}/recording{query}", headers=sent
        )
        return response.status, dict(response.headers), await response.read()


async def test_without_a_token_the_answer_is_401(server: PanelServer) -> None:
    status, headers, _ = await fetch(server, "1795392474.0", None)
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"


async def test_the_answering_agent_gets_the_exact_file_as_wav(server: PanelServer) -> None:
    status, headers, body = await fetch(server, "1795392474.0", "ali")
    assert status == 200
    assert body == (RECORDINGS / INBOUND).read_bytes()
    assert headers["Content-Type"] == "audio/wav"
    assert headers["Accept-Ranges"] == "bytes"
    # The PBX's file name carries the caller's number; the download is named by call.
    assert headers["Content-Disposition"] == 'inline; filename="1795392474.0.wav"'


async def test_another_agents_recording_is_404_like_an_unknown_call(server: PanelServer) -> None:
    status, _, body = await fetch(server, "1795392474.0", "sara")
    unknown_status, _, unknown_body = await fetch(server, "1795392474.99", "sara")
    assert (status, unknown_status) == (404, 404)
    assert body.replace(b"1795392474.0", b"X") == unknown_body.replace(b"1795392474.99", b"X")


async def test_supervisor_gets_any_calls_recording(server: PanelServer) -> None:
    status, _, body = await fetch(server, "1795392505.16", "maryam")
    assert status == 200
    assert body == (RECORDINGS / OUTBOUND).read_bytes()


async def test_the_agent_a_call_was_transferred_to_gets_it(server: PanelServer) -> None:
    assert (await fetch(server, "1795392514.20", "reza"))[0] == 200
    assert (await fetch(server, "1795392514.20", "sara"))[0] == 404


async def test_an_agent_the_screen_pop_rang_gets_it(
    server: PanelServer, recordings: MemoryRecordings
) -> None:
    # The call record names only the answering agent; the panel saw 1001 ring (pop history).
    recordings.add("1795392474.0", f"{SPOOL}/{INBOUND}", ("1009",))
    assert (await fetch(server, "1795392474.0", "ali"))[0] == 404
    await server.publish(trace_events("inbound_answered"))
    assert (await fetch(server, "1795392474.0", "ali"))[0] == 200
    assert (await fetch(server, "1795392474.0", "sara"))[0] == 404


async def test_a_byte_range_returns_exactly_those_bytes(server: PanelServer) -> None:
    status, headers, body = await fetch(
        server, "1795392474.0", "ali", headers={"Range": "bytes=44-1043"}
    )
    assert status == 206
    assert headers["Content-Range"] == f"bytes 44-1043/{SIZE}"
    assert body == (RECORDINGS / INBOUND).read_bytes()[44:1044]


async def test_an_open_ended_range_returns_the_tail(server: PanelServer) -> None:
    status, headers, body = await fetch(
        server, "1795392474.0", "ali", headers={"Range": "bytes=22000-"}
    )
    assert status == 206
    assert headers["Content-Range"] == f"bytes 22000-{SIZE - 1}/{SIZE}"
    assert body == (RECORDINGS / INBOUND).read_bytes()[22000:]


async def test_a_range_past_the_end_is_416(server: PanelServer) -> None:
    status, headers, _ = await fetch(
        server, "1795392474.0", "ali", headers={"Range": "bytes=30000-30100"}
    )
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{SIZE}"


async def test_a_recording_whose_file_is_not_on_disk_is_404_with_the_reason(
    server: PanelServer,
) -> None:
    status, _, body = await fetch(server, "1795392576.77", "maryam")
    assert status == 404
    assert b"not on disk" in body


async def test_a_name_leading_out_of_the_spool_is_never_served(server: PanelServer) -> None:
    status, _, body = await fetch(server, "9.1", "maryam")
    assert status == 404
    assert b"not in a recordings directory" in body


async def test_a_call_id_that_cannot_be_one_is_404(server: PanelServer) -> None:
    status, _, _ = await fetch(server, "..%2F..%2Fetc", "maryam")
    assert status == 404


async def test_the_transcoded_copy_is_served_and_the_original_on_request(
    server: PanelServer, recordings: MemoryRecordings, monitor: Path, tmp_path: Path
) -> None:
    need_ffmpeg()
    recordings.library = library(monitor, Transcoder("mp3", tmp_path / "cache"))
    status, headers, body = await fetch(server, "1795392474.0", "ali")
    assert status == 200
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["Content-Disposition"] == 'inline; filename="1795392474.0.mp3"'
    assert body.startswith(b"ID3") and len(body) < SIZE / 2
    status, headers, body = await fetch(server, "1795392474.0", "ali", query="?format=original")
    assert (status, headers["Content-Type"]) == (200, "audio/wav")
    assert body == (RECORDINGS / INBOUND).read_bytes()


async def test_without_recordings_configured_every_recording_is_404(
    password_hash: str, database_url: str
) -> None:
    async with serve_panel(password_hash, database_url) as server:
        assert (await fetch(server, "1795392474.0", "maryam"))[0] == 404


async def test_crm_backend_finds_the_file_and_everyone_on_the_call(
    tmp_path: Path, monitor: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.sqlite3'}"
    await upgrade(url)
    database = Database(DatabaseConfig(url=url))
    try:
        transfer = next(e for e in trace_events("blind_transfer") if isinstance(e, CallEnded))
        abandoned = next(e for e in trace_events("inbound_abandoned") if isinstance(e, CallEnded))
        unrecorded = dataclasses.replace(transfer, call_id="1795392514.99", recording=None)
        async with database.engine.begin() as connection:
            for event in (transfer, abandoned, unrecorded):
                await connection.execute(
                    insert(CallRecord).values(record_values(event, None, None))
                )
        store = CrmRecordings(database, library(monitor))
        found = await store.find("1795392514.20")
        assert found is not None
        assert found.file == transfer.recording
        assert found.extensions == {"1001", "1003"}  # answered, rang, transferred
        rang = await store.find(abandoned.call_id)
        assert rang is not None and rang.extensions == {"1001"}  # rang, never answered
        assert await store.find(unrecorded.call_id) is None
        assert await store.find("1.1") is None
    finally:
        await database.dispose()


async def test_many_concurrent_range_requests_all_get_their_bytes(server: PanelServer) -> None:
    data = (RECORDINGS / INBOUND).read_bytes()
    token = await server.token("maryam")
    async with aiohttp.ClientSession() as session:

        async def one(start: int) -> bytes:
            response = await session.get(
                f"{server.url}/api/v1/calls/1795392474.0/recording",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Range": f"bytes={start}-{start + 99}",
                },
            )
            assert response.status == 206
            return await response.read()

        starts = list(range(0, 20000, 1000))
        bodies = await asyncio.gather(*(one(s) for s in starts))
    assert bodies == [data[s : s + 100] for s in starts]


@pytest.mark.browser
async def test_agent_plays_a_recording_from_todays_calls_in_chromium(
    server: PanelServer, browser: Browser
) -> None:
    await server.log_call(
        call_id="1795392474.0",
        started_at=dt.datetime.now(dt.UTC),
        caller="+982188776655",
        customer_id=1,
        agent="1001",
        talk_seconds=9,
        recording=f"{SPOOL}/{INBOUND}",
        recording_seconds=1.42,  # measured by the recordings service once the file closed
    )
    page = await browser.new_page()
    await page.goto(server.url + "/")
    await page.fill("#username", "ali")
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    play = page.locator("#today-body button.play")
    await expect(play).to_have_count(1, timeout=10_000)
    await play.click()
    audio = page.locator("#today-body audio")
    await expect(audio).to_have_count(1, timeout=10_000)
    # Loaded through the blob URL under the panel's CSP: the real file's 1.42 s.
    # Awaited inside the page rather than polled: polling evaluates a string, which that CSP
    # refuses (unsafe-eval) whenever the first check comes too early.
    async with asyncio.timeout(10):
        duration = await audio.evaluate(
            """a => a.duration > 0 ? a.duration : new Promise(resolve => a.addEventListener(
                 "loadedmetadata", () => resolve(a.duration), { once: true }))"""
        )
    assert duration == pytest.approx(1.42, abs=0.01)
    assert (await audio.get_attribute("src") or "").startswith("blob:")
