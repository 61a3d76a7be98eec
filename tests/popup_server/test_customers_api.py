"""Customers from the pop: create from an unknown caller, add a number, edit; bad input is 400."""

from __future__ import annotations

import aiohttp

from tests.popup_server.conftest import PanelServer
from tests.popup_server.test_api import call_api


async def test_unknown_caller_becomes_a_customer_found_on_the_next_call(
    server: PanelServer,
) -> None:
    status, created = await call_api(
        server,
        "POST",
        "/customers",
        body={"name": "  Parisa Nouri ", "number": "0935 111 2233", "do_not_call": True},
    )
    assert status == 201
    assert created["name"] == "Parisa Nouri"
    assert created["do_not_call"] is True
    _, found = await call_api(server, "GET", "/phonebook?q=09351112233")
    assert [e["name"] for e in found["entries"]] == ["Parisa Nouri"]


async def test_caller_number_added_to_a_customer_found_by_search(server: PanelServer) -> None:
    _, found = await call_api(server, "GET", "/phonebook?q=laleh")
    customer_id = found["entries"][0]["customer_id"]
    status, body = await call_api(
        server, "POST", f"/customers/{customer_id}/numbers", body={"number": "+989121110000"}
    )
    assert status == 201
    assert "+989121110000" in [n["raw"] for n in body["numbers"]]
    _, found = await call_api(server, "GET", "/phonebook?q=9121110000")
    assert [e["customer_id"] for e in found["entries"]] == [customer_id]


async def test_bad_fields_are_refused_naming_the_field(server: PanelServer) -> None:
    cases = [
        ({"number": "0912"}, "name"),
        ({"name": "A", "number": "12\r\n34"}, "number"),
        ({"name": "A", "preferred_channel": "fax"}, "preferred_channel"),
        ({"name": "A", "call_from": "25:00"}, "call_from"),
        ({"name": "A", "do_not_call": "yes"}, "do_not_call"),
        ({"name": "A", "email": "not-an-address"}, "email"),
        ({"name": "A", "vip": True}, "unknown field(s): vip"),
        ({"name": "x" * 201}, "name"),
    ]
    for body, field in cases:
        status, answer = await call_api(server, "POST", "/customers", body=body)
        assert status == 400, body
        assert field in answer["error"], (body, answer)
    status, _ = await call_api(server, "PATCH", "/customers/999999", body={"name": "B"})
    assert status == 404


async def test_customer_routes_need_a_token(server: PanelServer) -> None:
    async with aiohttp.ClientSession() as session:
        response = await session.post(f"{server.url}/api/v1/customers", json={"name": "A"})
        assert response.status == 401
