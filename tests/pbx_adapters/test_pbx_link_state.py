"""The PBX link's state as a domain event: up, down and auth_failed, once per change."""

from __future__ import annotations

import logging

import pytest

from cti.events import Event, PbxLinkChanged
from pbx_adapters.ami import AmiLink
from pbx_adapters.pbx_feed import PbxFeed

from .ami_fake_server import SECRET, FakeAmi, Received, ami_config, running_server, wait_until
from .test_ami_feed import RecordingTracker


class LinkEvents:
    """Collects the PbxLinkChanged events among what the feed emits."""

    def __init__(self) -> None:
        self.events: list[PbxLinkChanged] = []

    def __call__(self, batch: list[Event]) -> None:
        self.events += [e for e in batch if isinstance(e, PbxLinkChanged)]

    def states(self) -> list[str]:
        return [e.state for e in self.events]


def retries_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum("ami link down" in r.getMessage() for r in caplog.records)


async def test_link_lost_and_back_is_published_as_down_then_up_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Repeats of one failure are logged at debug level, once explained at warning level.
    caplog.set_level(logging.DEBUG, logger="pbx_adapters.ami")
    async with running_server() as server:
        seen = LinkEvents()
        feed = PbxFeed(ami_config(server.port), RecordingTracker(), seen, clock=lambda: 42.0)
        await feed.start()
        try:
            await wait_until(lambda: seen.states() == ["up"])
            assert seen.events[0] == PbxLinkChanged(state="up", detail=None, at=42.0)

            await server.stop_listening()
            server.drop_clients()  # the PBX reboots: the link drops, reconnects are refused
            await wait_until(lambda: retries_logged(caplog) >= 4)
            assert seen.states() == ["up", "down"], "one down, not one per refused retry"
            detail = seen.events[1].detail
            assert detail and len(detail) <= 160 and SECRET not in detail

            await server.start()  # back on the same port
            await wait_until(lambda: len(seen.events) == 3)
            assert seen.states() == ["up", "down", "up"]
            assert feed.link_state == "up"
        finally:
            await feed.close()
        assert seen.states() == ["up", "down", "up"], "closing the feed is not a link failure"


async def test_refused_login_is_published_once_as_auth_failed_then_up_when_fixed() -> None:
    server = FakeAmi(secret="the-real-one")
    async with running_server(server):
        seen = LinkEvents()
        config = ami_config(server.port, auth_failure_delay=0.05)
        feed = PbxFeed(config, RecordingTracker(), seen, clock=lambda: 7.0)
        await feed.start()
        try:
            await wait_until(lambda: feed.link.stats.auth_failures >= 3)
            assert seen.events == [
                PbxLinkChanged(state="auth_failed", detail="Authentication failed", at=7.0)
            ]
            server.secret = SECRET  # the admin fixes manager.conf
            await wait_until(lambda: len(seen.events) == 2)
            assert seen.states() == ["auth_failed", "up"]
        finally:
            await feed.close()


async def test_ami_link_tells_on_down_each_loss_with_a_reason_but_not_on_close() -> None:
    server = FakeAmi(secret="the-real-one")
    downs: list[tuple[str, bool]] = []
    async with running_server(server):
        link = AmiLink(
            ami_config(server.port, auth_failure_delay=0.05),
            Received(),
            on_down=lambda reason, auth_failed: downs.append((reason, auth_failed)),
        )
        link.start()
        try:
            await wait_until(lambda: len(downs) >= 2)
            assert downs[:2] == [("Authentication failed", True)] * 2
            server.secret = SECRET
            await link.wait_ready(5)
            before = len(downs)
            server.drop_clients()
            await wait_until(lambda: len(downs) > before)
            reason, auth_failed = downs[before]
            assert reason.startswith("connection lost") and auth_failed is False
            await link.wait_ready(5)
            settled = len(downs)
        finally:
            await link.close()
        assert len(downs) == settled, "close() is not reported as the link going down"
