"""`ctihub pbx import` against the simulator, which answers PJSIPShowEndpoints, SIPpeers,
IAXpeerlist and QueueStatus as Asterisk does; a dry run changes nothing, a second import
adds nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_sync.audit import AuditLog
from crm_sync.db import Database
from crm_sync.people import People
from crm_sync.settings import DatabaseConfig
from ctihub.cli import main
from pbx_adapters.simulator import Scenario, Simulator, SimulatorSettings, lab_pbx

SECRET = "import-secret"


@pytest.fixture
async def simulator() -> AsyncIterator[int]:
    spec = lab_pbx()
    spec.agents[1].device = "SIP/1002"
    spec.agents[2].device = "IAX2/1003"
    sim = Simulator(Scenario(pbx=spec), SimulatorSettings(username="ctihub", secret=SECRET))
    port = await sim.start("127.0.0.1", 0)
    yield port
    await sim.stop()


def _import(
    port: int, url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    *flags: str,
) -> list[str]:  # fmt: skip
    for key, value in {
        "CTIHUB_PBX": "asterisk",
        "CTIHUB_AMI__HOST": "127.0.0.1",
        "CTIHUB_AMI__PORT": str(port),
        "CTIHUB_AMI__SECRET": SECRET,
        "CTIHUB_DATABASE__URL": url,
    }.items():
        monkeypatch.setenv(key, value)
    assert main(["pbx", "import", *flags]) == 0
    return capsys.readouterr().out.splitlines()


async def _state(url: str) -> tuple[list[str], list[str]]:
    database = Database(DatabaseConfig(url=url))
    try:
        devices = [f"{d.interface}={d.username}" for d in await People(database).devices()]
        audit = [e.action for e in await AuditLog(database).entries()]
    finally:
        await database.dispose()
    return devices, audit


async def test_import_from_the_pbx_previews_then_adds_once(
    simulator: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/hub.sqlite3"
    preview = await asyncio.to_thread(_import, simulator, url, capsys, monkeypatch, "--dry-run")
    assert preview[-1] == "8 to add, 0 to change (dry run: nothing changed)"
    assert sorted(preview[:-1]) == [
        "would add\tdevice\tIAX2/1003\t",
        "would add\tdevice\tLocal/1001@from-queue/n\tAli Rezaei",
        "would add\tdevice\tLocal/1002@from-queue/n\tSara Ahmadi",
        "would add\tdevice\tLocal/1003@from-queue/n\tReza Karimi",
        "would add\tdevice\tPJSIP/1001\t",
        "would add\tdevice\tSIP/1002\t",
        "would add\tqueue\tsales\t",
        "would add\tqueue\tsupport\t",
    ]
    assert await _state(url) == ([], [])

    applied = await asyncio.to_thread(_import, simulator, url, capsys, monkeypatch)
    assert applied[-1] == "8 to add, 0 to change"
    devices, audit = await _state(url)
    assert "SIP/1002=None" in devices and len(devices) == 6
    assert sorted(set(audit)) == ["device.import", "queue.import"] and len(audit) == 8

    again = await asyncio.to_thread(_import, simulator, url, capsys, monkeypatch, "--dry-run")
    assert again == ["0 to add, 0 to change (dry run: nothing changed)"]
