"""The generic HTTP connector against a local aiohttp server playing the external CRM."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from crm_sync.cases import CaseService
from crm_sync.connectors.base import ConnectorError
from crm_sync.connectors.http import HttpConnector
from crm_sync.connectors.webhooks import WebhookSender, sign, verify_signature
from crm_sync.customers import CustomerService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.phones import PhoneNormaliser
from crm_sync.screenpop_lookup import CrmCallerLookup
from crm_sync.settings import CrmConfig, CrmHttpConfig
from crm_sync.spool import JsonlSpool

SECRET = "s3cret-shared"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeCrm:
    """A CRM whose answers each test scripts; it keeps every webhook it received."""

    def __init__(self) -> None:
        self.lookup: Handler = self._contacts
        self.webhook_replies: list[int] = []
        self.webhooks: list[tuple[dict[str, str], bytes]] = []
        self.lookup_paths: list[str] = []
        self.url = ""

    async def _contacts(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "data": {
                    "items": [
                        {"id": 42, "profile": {"full_name": "کاوه مرادی"}, "mail": "k@example.com"}
                    ]
                }
            }
        )

    async def handle_lookup(self, request: web.Request) -> web.StreamResponse:
        self.lookup_paths.append(request.path_qs)
        return await self.lookup(request)

    async def handle_webhook(self, request: web.Request) -> web.StreamResponse:
        self.webhooks.append((dict(request.headers), await request.read()))
        status = self.webhook_replies.pop(0) if self.webhook_replies else 204
        return web.Response(status=status)


@pytest.fixture
async def crm() -> AsyncIterator[FakeCrm]:
    fake = FakeCrm()
    app = web.Application()
    app.router.add_get("/api/contacts", fake.handle_lookup)
    app.router.add_post("/hooks/ctihub", fake.handle_webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def _config(crm: FakeCrm, **overrides: object) -> CrmHttpConfig:
    values: dict[str, object] = {
        "lookup_url": crm.url + "/api/contacts?phone={e164}&local={national}",
        "results_path": "data.items",
        "field_map": {"external_id": "id", "name": "profile.full_name", "email": "mail"},
        "webhook_url": crm.url + "/hooks/ctihub",
        "webhook_secret": SecretStr(SECRET),
        "timeout": 0.5,
        "max_attempts": 3,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.02,
    }
    values.update(overrides)
    return CrmHttpConfig.model_validate(values)


@pytest.fixture
async def connector(crm: FakeCrm, tmp_path: Path) -> AsyncIterator[HttpConnector]:
    http = HttpConnector(_config(crm), PhoneNormaliser(), tmp_path)
    yield http
    await http.close()


async def test_lookup_fills_the_url_template_and_maps_nested_fields(
    crm: FakeCrm, connector: HttpConnector
) -> None:
    [contact] = await connector.lookup("+989121234567")
    assert crm.lookup_paths == ["/api/contacts?phone=%2B989121234567&local=09121234567"]
    assert (contact.external_id, contact.name, contact.email) == (
        "42",
        "کاوه مرادی",
        "k@example.com",
    )


async def test_not_found_is_no_contacts(crm: FakeCrm, connector: HttpConnector) -> None:
    async def missing(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "none"}, status=404)

    crm.lookup = missing
    assert await connector.lookup("+989121234567") == []


async def test_a_500_is_a_connector_error_naming_the_status(
    crm: FakeCrm, connector: HttpConnector
) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="boom")

    crm.lookup = broken
    with pytest.raises(ConnectorError, match="HTTP 500, expected 200"):
        await connector.lookup("+989121234567")


async def test_malformed_json_is_a_connector_error(crm: FakeCrm, connector: HttpConnector) -> None:
    async def garbled(request: web.Request) -> web.StreamResponse:
        return web.Response(text='{"data": {"items": [', content_type="application/json")

    crm.lookup = garbled
    with pytest.raises(ConnectorError, match="malformed JSON"):
        await connector.lookup("+989121234567")


async def test_json_of_the_wrong_shape_is_a_connector_error(
    crm: FakeCrm, connector: HttpConnector
) -> None:
    async def wrong(request: web.Request) -> web.StreamResponse:
        return web.json_response({"data": {"items": "nobody"}})

    crm.lookup = wrong
    with pytest.raises(ConnectorError, match=r"expected a list at data\.items, got str"):
        await connector.lookup("+989121234567")


async def test_a_slow_crm_times_out_as_a_connector_error(
    crm: FakeCrm, connector: HttpConnector
) -> None:
    release = asyncio.Event()

    async def stuck(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response([])

    crm.lookup = stuck
    try:
        with pytest.raises(ConnectorError, match=r"timed out after 0.5 s"):
            await connector.lookup("+989121234567")
    finally:
        release.set()


async def test_call_record_webhook_is_signed_so_the_receiver_can_verify_it(
    crm: FakeCrm, connector: HttpConnector
) -> None:
    assert await connector.push_call({"call_id": "1795392474.0", "agent": "1001"})
    [(headers, body)] = crm.webhooks
    timestamp = headers["X-Ctihub-Timestamp"]
    assert headers["X-Ctihub-Event"] == "call.ended"
    assert headers["X-Ctihub-Delivery"] == "1795392474.0"
    assert verify_signature(SECRET, timestamp, body, headers["X-Ctihub-Signature"])
    assert not verify_signature("wrong secret", timestamp, body, headers["X-Ctihub-Signature"])
    assert json.loads(body)["data"] == {"call_id": "1795392474.0", "agent": "1001"}


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # Worked out with: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
    assert sign("key", "1700000000", b"{}") == (
        "sha256=" + "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
    )


async def test_webhook_is_retried_after_500s_until_accepted(
    crm: FakeCrm, connector: HttpConnector
) -> None:
    crm.webhook_replies = [500, 503]
    assert await connector.push_case({"tracking_code": "40012345", "status": "resolved"})
    assert len(crm.webhooks) == 3
    deliveries = {headers["X-Ctihub-Delivery"] for headers, _ in crm.webhooks}
    assert len(deliveries) == 1  # the same delivery id each time, so the receiver can dedupe


async def test_webhook_that_keeps_failing_goes_to_the_dead_letter_spool_and_can_be_resent(
    crm: FakeCrm, connector: HttpConnector, tmp_path: Path
) -> None:
    crm.webhook_replies = [500, 500, 500]
    assert not await connector.push_call({"call_id": "c-1"})
    assert len(crm.webhooks) == 3
    assert connector.webhooks is not None
    dead = connector.webhooks.dead_letters
    assert dead.path == tmp_path / "webhooks.dead.jsonl"
    assert dead.pending() == 1
    assert json.loads(dead.path.read_text())["error"] == "HTTP 500"
    assert await connector.webhooks.redeliver_dead_letters() == 1
    assert dead.pending() == 0
    assert json.loads(crm.webhooks[-1][1])["data"] == {"call_id": "c-1"}


async def test_a_4xx_answer_is_not_retried(crm: FakeCrm, connector: HttpConnector) -> None:
    crm.webhook_replies = [400]
    assert not await connector.push_call({"call_id": "c-2"})
    assert len(crm.webhooks) == 1


async def test_unreachable_receiver_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    spool = JsonlSpool(tmp_path / "dead.jsonl")
    sender = WebhookSender(
        "http://127.0.0.1:1/hook", SECRET, spool, max_attempts=2, base_delay=0.01, timeout=0.5
    )
    try:
        assert not await sender.send("call.ended", {"call_id": "c-3"})
    finally:
        await sender.close()
    record = json.loads(spool.path.read_text())
    assert record["event"] == "call.ended"
    assert record["error"].startswith("ClientConnectorError")


async def test_the_pops_lookup_adds_the_external_crms_contacts_after_the_hubs_own(
    crm: FakeCrm, connector: HttpConnector, database: Database, crm_config: CrmConfig
) -> None:
    normaliser = PhoneNormaliser("IR")
    directory = CallerDirectory.for_database(database, normaliser, crm_config)
    customers = CustomerService(database, normaliser)
    await customers.create(name="Shirin Kamali", phones=[("+982133445566", "work")])
    lookup = CrmCallerLookup(directory, CaseService(database, crm_config), database, connector)
    try:
        known = await lookup.lookup("02133445566")
        assert known.status == "matched"
        assert [(c["name"], c.get("source")) for c in known.customers] == [
            ("Shirin Kamali", None),
            ("کاوه مرادی", "external"),
        ]
        assert known.customers[1]["external_id"] == "42"
        stranger = await lookup.lookup("09121234567")
        assert (stranger.status, stranger.customers[0]["id"]) == ("matched", None)

        crm.lookup = _server_error
        failing = await lookup.lookup("02133445566")
        assert [c["name"] for c in failing.customers] == ["Shirin Kamali"]
        assert (await lookup.lookup("09121234567")).status == "unknown"
    finally:
        await directory.close()


async def _server_error(request: web.Request) -> web.StreamResponse:
    return web.Response(status=500)
