"""/healthz, /readyz and /metrics on the whole hub: truthful, and /metrics only for a scraper."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp import ClientSession
from prometheus_client.parser import text_string_to_metric_families

from crm_sync.commands import DEMO_PASSWORD
from ctihub.daemon import Hub
from tests.ctihub.test_daemon import call_records, settings_for


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_ready_hub_reports_its_calls_pops_and_writes_in_prometheus_form(
    tmp_path: Path,
) -> None:
    hub = Hub(
        settings_for(tmp_path, "inbound_answered.toml", CTIHUB_HTTP__METRICS_TOKEN="scrape-me"),
        demo=True,
    )
    await hub.start()
    try:
        await call_records(hub, 1)
        url = hub.panel_url
        assert url is not None
        async with ClientSession() as http:
            assert (await http.get(f"{url}healthz")).status == 200
            async with asyncio.timeout(10):
                while True:
                    ready = await http.get(f"{url}readyz")
                    if ready.status == 200:
                        break
                    await asyncio.sleep(0.05)
            assert await ready.json() == {"ready": True, "failing": []}
            refused = await http.post(
                f"{url}api/v1/login", json={"username": "ali", "password": "wrong"}
            )
            assert refused.status == 401
            local = await http.get(f"{url}metrics")
            assert local.status == 200
            assert local.headers["Content-Type"].startswith("text/plain")
            text = await local.text()
            proxied = await http.get(f"{url}metrics", headers={"X-Forwarded-For": "203.0.113.9"})
            wrong = await http.get(f"{url}metrics", headers={"Authorization": "Bearer nope"})
            token = await http.get(
                f"{url}metrics",
                headers={"Authorization": "Bearer scrape-me", "X-Forwarded-For": "203.0.113.9"},
            )
    finally:
        await hub.stop()
    samples = _samples(text)
    assert samples[("ctihub_pbx_link_up", ())] == 1.0
    assert samples[("ctihub_call_log_writes_total", (("outcome", "written"),))] == 1.0
    assert samples[("ctihub_ami_messages_total", ())] > 10
    assert samples[("ctihub_pops_sent_total", ())] >= 1
    assert samples[("ctihub_pop_latency_seconds_count", ())] >= 1
    assert samples[("ctihub_caller_lookup_seconds_count", ())] >= 1
    assert samples[("ctihub_login_failures_total", ())] == 1.0
    assert samples[("ctihub_bus_consumer_up", (("consumer", "call-log"),))] == 1.0
    assert samples[("ctihub_bus_consumer_lag_events", (("consumer", "call-log"),))] == 0.0
    assert samples[("ctihub_call_log_spool_depth", ())] == 0.0
    assert ("ctihub_websocket_connections", (("kind", "agent"),)) in samples
    assert ("ctihub_agi_sessions", ()) in samples
    assert "scrape-me" not in text and DEMO_PASSWORD not in text
    assert (proxied.status, wrong.status, token.status) == (403, 403, 200)


async def test_readyz_names_the_pbx_when_the_ami_link_is_down(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = settings_for(
        tmp_path,
        "inbound_answered.toml",
        CTIHUB_PBX="asterisk",
        CTIHUB_AMI__HOST="127.0.0.1",
        CTIHUB_AMI__PORT=str(closed_port),
        CTIHUB_AMI__SECRET="not-used",
    )
    hub = Hub(settings)
    await hub.start()
    try:
        url = hub.panel_url
        async with ClientSession() as http:
            live = await http.get(f"{url}healthz")
            ready = await http.get(f"{url}readyz")
            body = await ready.json()
    finally:
        await hub.stop()
    assert live.status == 200
    assert ready.status == 503
    assert body == {"ready": False, "failing": ["pbx"]}
