"""The AMI holder dies and no node takes over: the others tell the panels "PBX link down"."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import pytest

from cti.events import PbxLinkChanged
from ctihub.daemon import Hub
from ctihub.settings import load_settings
from pbx_adapters.simulator import Scenario, Simulator, SimulatorSettings, lab_pbx

pytestmark = [pytest.mark.redis]

LEASE_TTL = 1.5


async def _contract_over_fastagi(port: int) -> str | None:
    """One FastAGI ``contract`` session as Asterisk runs it; the CTIHUB_CONTRACT it set."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None  # AGISTATUS=FAILURE: the dialplan goes on to its next AGI() target
    try:
        writer.write(
            b"agi_network: yes\nagi_network_script: contract\nagi_uniqueid: 1795392474.0\n"
            b"agi_callerid: 09121234567\n\n"
        )
        await writer.drain()
        async with asyncio.timeout(10):
            while line := await reader.readline():
                command = line.decode().strip()
                if command.startswith("SET VARIABLE CTIHUB_CONTRACT"):
                    return command.split(" ", 3)[3].strip('"')
                writer.write(b"200 result=1\n")
                await writer.drain()
    finally:
        writer.close()
    return None


async def _link_state(hub: Hub) -> str | None:
    latest = await hub.bus.latest("pbx_link_changed")
    return latest.state if isinstance(latest, PbxLinkChanged) else None


async def test_killed_holder_with_no_successor_is_reported_down_within_the_lease_time(
    redis_url: str, tmp_path: Path
) -> None:
    pbx = Simulator(Scenario(lab_pbx()), SimulatorSettings(secret="lease-secret"))
    ami_port = await pbx.start("127.0.0.1", 0, run_scenario=False)
    prefix = f"ctihub-test-{secrets.token_hex(4)}:"
    common = {
        "CTIHUB_PBX": "asterisk",
        "CTIHUB_AMI__PORT": str(ami_port),
        "CTIHUB_AMI__SECRET": "lease-secret",
        "CTIHUB_BUS__BACKEND": "redis",
        "CTIHUB_BUS__REDIS_URL": redis_url,
        "CTIHUB_BUS__KEY_PREFIX": prefix,
        "CTIHUB_BUS__LEASE_TTL_SECONDS": str(LEASE_TTL),
        "CTIHUB_BUS__BLOCK_SECONDS": "0.2",
        "CTIHUB_AGI__PORT": "0",
        "CTIHUB_HTTP__PORT": "0",
        "CTIHUB_HTTP__SECRET_KEY": "k" * 40,
    }
    holder_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CTIHUB_")},
        **common,
        "CTIHUB_BUS__NODE_ID": "holder",
        "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'holder.sqlite3'}",
        "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "holder-spool"),
    }
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ctihub.cli",
        "run",
        env=holder_env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    # A panel-only node: it never takes the AMI link, so nobody takes over.
    watcher = Hub(
        load_settings(
            None,
            env={
                **common,
                "CTIHUB_BUS__NODE_ID": "panel-only",
                "CTIHUB_BUS__DRIVE_PBX": "false",
                "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'panel.sqlite3'}",
                "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "panel-spool"),
            },
        )
    )
    try:
        await watcher.start()
        async with asyncio.timeout(60):
            while await _link_state(watcher) != "up":
                await asyncio.sleep(0.05)
        holder.send_signal(signal.SIGKILL)  # dies without releasing the lease or saying anything
        await holder.wait()
        killed = time.monotonic()
        # The IVR does not depend on the AMI lease: the surviving node answers it. (The
        # dead node's port refuses, as the first AGI() target of the dialplan would.)
        assert watcher.agi_port is not None
        contract = await _contract_over_fastagi(watcher.agi_port)
        async with asyncio.timeout(10):
            while await _link_state(watcher) != "down":
                await asyncio.sleep(0.02)
        took = time.monotonic() - killed
        latest = await watcher.bus.latest("pbx_link_changed")
        ready = await watcher.readiness()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await watcher.stop()
        await pbx.stop()
    # The lease lapses at most LEASE_TTL after the last renewal; the watch runs every third.
    assert took <= LEASE_TTL * 4 / 3 + 0.5, f"down published {took:.2f}s after the kill"
    assert isinstance(latest, PbxLinkChanged) and "no hub node holds" in (latest.detail or "")
    assert ready["pbx"] is False
    assert contract == "none"  # an unknown caller, answered by the node without the lease
