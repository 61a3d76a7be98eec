"""A panel action on a node without the AMI link is performed by the holder, at most once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ctihub.daemon import Hub
from ctihub.settings import load_settings
from popup_server.ports import PbxActionError
from tests.ctihub.test_hostile_ami import hub_settings, ready_link
from tests.pbx_adapters.ami_fake_server import running_server

pytestmark = [pytest.mark.redis]


def node(tmp_path: Path, ami_port: int, prefix: str, name: str, **extra: str) -> Hub:
    (tmp_path / name).mkdir(exist_ok=True)
    env = hub_settings(
        tmp_path / name,
        ami_port,
        CTIHUB_BUS__BACKEND="redis",
        CTIHUB_BUS__KEY_PREFIX=prefix,
        CTIHUB_BUS__NODE_ID=name,
        CTIHUB_BUS__LEASE_TTL_SECONDS="2",
        CTIHUB_BUS__BLOCK_SECONDS="0.2",
        CTIHUB_BUS__ACTION_TIMEOUT_SECONDS="2",
        **extra,
    )
    return Hub(load_settings(None, env=env))


async def test_click_to_call_on_a_panel_only_node_is_dialled_once_by_the_holder(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    async with running_server() as server:
        holder = node(
            tmp_path, server.port, redis_prefix, "holder", CTIHUB_BUS__REDIS_URL=redis_url
        )
        panel = node(
            tmp_path,
            server.port,
            redis_prefix,
            "panel",
            CTIHUB_BUS__REDIS_URL=redis_url,
            CTIHUB_BUS__DRIVE_PBX="false",
        )
        await holder.start()
        await panel.start()
        try:
            await ready_link(holder)
            assert panel.feed is None
            await panel.actions.originate("1001", "02177665544")
            originates = server.actions("Originate")
            await panel.actions.queue_pause("1001", True, "lunch")
            pauses = server.actions("QueuePause")
            # No holder at all: the asker is told it may not have happened, and the
            # request is not carried out later by the next holder.
            await holder.stop()
            with pytest.raises(PbxActionError, match="may or may not"):
                await panel.actions.originate("1002", "02100000000")
            successor = node(
                tmp_path, server.port, redis_prefix, "successor", CTIHUB_BUS__REDIS_URL=redis_url
            )
            await successor.start()
            try:
                await ready_link(successor)
                await asyncio.sleep(1.5)  # the relay has read the stale request by now
                after = server.actions("Originate")
                await panel.actions.originate("1003", "02111111111")
                last = server.actions("Originate")
            finally:
                await successor.stop()
        finally:
            await panel.stop()
            await holder.stop()
    assert [o["Channel"] for o in originates] == ["Local/1001@from-internal/n"]
    assert originates[0]["Exten"] == "02177665544"
    assert [p["Interface"] for p in pauses] == ["Local/1001@from-queue/n"]
    assert len(after) == 1, "the request nobody answered in time was never dialled"
    assert [o["Channel"] for o in last[1:]] == ["Local/1003@from-internal/n"]
