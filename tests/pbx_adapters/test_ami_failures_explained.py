"""A PBX that refuses the hub is explained once, with the manager.conf lines that fix it:
a wrong secret, an action the AMI user may not run, nothing answering on the AMI port."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from cti.tracker import CallTracker
from pbx_adapters.pbx_feed import PbxFeed
from pbx_adapters.settings import AmiConfig
from tests.pbx_adapters.ami_fake_server import FakeAmi


def _config(port: int, secret: str) -> AmiConfig:
    return AmiConfig(
        host="127.0.0.1",
        port=port,
        username="ctihub",
        secret=secret,
        auth="plain",
        connect_timeout=1.0,
        reconnect_min_delay=0.05,
        reconnect_max_delay=0.1,
        auth_failure_delay=0.1,
        fully_booted_timeout=0.5,
    )


async def _run_for(config: AmiConfig, seconds: float) -> PbxFeed:
    feed = PbxFeed(config, CallTracker(), lambda events: None)
    await feed.start()
    await asyncio.sleep(seconds)
    await feed.close()
    return feed


def _lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


async def test_a_wrong_secret_is_explained_once_with_the_manager_conf_user(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pbx = FakeAmi(secret="right")
    port = await pbx.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="pbx_adapters"):
            await _run_for(_config(port, "wrong"), 0.6)
    finally:
        await pbx.close()
    assert len(pbx.login_attempts) >= 2
    refused = [m for m in _lines(caplog, logging.ERROR) if "login refused" in m]
    assert len(refused) == 1
    assert "[ctihub]" in refused[0] and "permit = " in refused[0]
    assert "manager reload" in refused[0] and "wrong" not in refused[0].split("reason=")[0]


async def test_an_action_the_user_may_not_run_names_the_write_class(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pbx = FakeAmi(secret="right")
    pbx.denied = {"coreshowchannels"}
    port = await pbx.start()
    try:
        with caplog.at_level(logging.INFO, logger="pbx_adapters"):
            await _run_for(_config(port, "right"), 0.5)
    finally:
        await pbx.close()
    (denied,) = [m for m in _lines(caplog, logging.ERROR) if "Permission denied" in m]
    assert "CoreShowChannels needs reporting" in denied and "write = " in denied


async def test_nothing_answering_is_explained_once_with_the_general_section(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with caplog.at_level(logging.DEBUG, logger="pbx_adapters"):
        feed = await _run_for(_config(port, "x"), 0.6)
    warnings = [m for m in _lines(caplog, logging.WARNING) if "ami link down" in m]
    assert len(warnings) == 1
    assert "enabled = yes" in warnings[0] and f"port = {port}" in warnings[0]
    assert feed.link.stats.connects == 0
    retries = [r for r in caplog.records if "(again)" in r.getMessage()]
    assert retries and all(r.levelno == logging.DEBUG for r in retries)
