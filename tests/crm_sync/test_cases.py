"""Case files: due times from config, first-contact resolution, lookup by tracking code."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from crm_sync import cases as cases_module
from crm_sync.call_log import CallLogWriter
from crm_sync.cases import CaseError, CaseService
from crm_sync.customers import CustomerService
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Agent, Case, Device, Note
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig
from crm_sync.tracking_codes import is_well_formed

from .events import inbound_answered

OPENED = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def cases(database: Database, crm_config: CrmConfig) -> CaseService:
    return CaseService(database, crm_config)


@pytest.fixture
def customers(database: Database, normaliser: PhoneNormaliser) -> CustomerService:
    return CustomerService(database, normaliser)


async def test_key_customers_cases_are_due_in_24_hours_others_in_48(
    cases: CaseService, customers: CustomerService
) -> None:
    key = await customers.create(name="Key account", vip=True)
    other = await customers.create(name="Walk-in")
    key_case = await cases.open_case(customer_id=key.id, subject="Down", opened_at=OPENED)
    other_case = await cases.open_case(customer_id=other.id, subject="Slow", opened_at=OPENED)
    assert key_case.due_at == dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
    assert other_case.due_at == dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


async def test_new_cases_get_unique_well_formed_tracking_codes(
    cases: CaseService, customers: CustomerService
) -> None:
    customer = await customers.create(name="Many cases")
    codes = [
        (await cases.open_case(customer_id=customer.id, subject=f"#{i}")).tracking_code
        for i in range(20)
    ]
    assert len(set(codes)) == 20
    assert all(is_well_formed(code, 8) for code in codes)


async def test_a_tracking_code_collision_is_retried_with_a_new_code(
    cases: CaseService, customers: CustomerService, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await customers.create(name="Unlucky")
    first = await cases.open_case(customer_id=customer.id, subject="first")
    drawn = iter([first.tracking_code, first.tracking_code, "12345671"])
    monkeypatch.setattr(cases_module, "new_tracking_code", lambda length: next(drawn))
    second = await cases.open_case(customer_id=customer.id, subject="second")
    assert second.tracking_code == "12345671"


async def test_resolving_on_the_call_that_opened_the_case_is_first_contact_resolution(
    cases: CaseService, customers: CustomerService
) -> None:
    customer = await customers.create(name="Quick fix")
    case = await cases.open_case(customer_id=customer.id, subject="Reset", call_id="1795392474.0")
    resolved = await cases.resolve(case.id, call_id="1795392474.0")
    assert resolved.status == "resolved"
    assert resolved.first_contact_resolution is True
    assert resolved.resolved_at is not None


async def test_resolving_on_a_later_call_is_not_first_contact_resolution(
    database: Database,
    cases: CaseService,
    customers: CustomerService,
    directory: CallerDirectory,
    crm_config: CrmConfig,
) -> None:
    customer = await customers.create(name="Slow fix", phones=[("+982188776655", "work")])
    case = await cases.open_case(customer_id=customer.id, subject="Broken", call_id="1795392474.0")
    writer = CallLogWriter(database, directory, crm_config)
    await writer.handle(
        inbound_answered("1795392474.0", variables=(("CTIHUB_CASE", case.tracking_code),))
    )
    await writer.handle(
        inbound_answered("1795399999.0", variables=(("CTIHUB_CASE", case.tracking_code),))
    )
    resolved = await cases.resolve(case.id, call_id="1795399999.0")
    assert resolved.first_contact_resolution is False


async def test_resolving_without_a_call_is_not_first_contact_resolution(
    cases: CaseService, customers: CustomerService
) -> None:
    customer = await customers.create(name="Email fix")
    case = await cases.open_case(customer_id=customer.id, subject="x", call_id="1795392474.0")
    assert (await cases.resolve(case.id)).first_contact_resolution is False


async def test_reopening_clears_resolution(cases: CaseService, customers: CustomerService) -> None:
    customer = await customers.create(name="Back again")
    case = await cases.open_case(customer_id=customer.id, subject="x", call_id="c1")
    await cases.resolve(case.id, call_id="c1")
    reopened = await cases.set_status(case.id, "open")
    assert (reopened.resolved_at, reopened.first_contact_resolution) == (None, False)


async def test_find_by_code_rejects_a_mistyped_code_before_looking(
    cases: CaseService, customers: CustomerService
) -> None:
    customer = await customers.create(name="Caller")
    case = await cases.open_case(customer_id=customer.id, subject="x")
    code = case.tracking_code
    found = await cases.find_by_code(code)
    assert found is not None and found.id == case.id
    swapped = code[:2] + code[3] + code[2] + code[4:]
    if swapped != code:
        assert await cases.find_by_code(swapped) is None
    typo = code[:-2] + str((int(code[-2]) + 1) % 10) + code[-1]
    assert await cases.find_by_code(typo) is None


async def test_bad_priority_status_and_missing_customer_are_refused(
    cases: CaseService,
) -> None:
    with pytest.raises(CaseError, match="priority must be one of"):
        await cases.open_case(customer_id=None, subject="x", priority="asap")
    with pytest.raises(CaseError, match="no customer with id 999"):
        await cases.open_case(customer_id=999, subject="x")
    with pytest.raises(CaseError, match="no case with id 5"):
        await cases.set_status(5, "closed")


async def test_notes_and_dispositions_attach_to_the_case_and_its_customer(
    database: Database, cases: CaseService, customers: CustomerService
) -> None:
    customer = await customers.create(name="Noted")
    case = await cases.open_case(customer_id=customer.id, subject="x")
    await cases.add_note(body="Called back, fixed", case_id=case.id, disposition="resolved")
    async with database.sessions() as session:
        note = await session.scalar(select(Note))
        stored_case = await session.scalar(select(Case))
    assert note is not None and stored_case is not None
    assert (note.case_id, note.customer_id, note.disposition) == (case.id, customer.id, "resolved")


async def test_screen_pop_lookup_answers_with_customers_and_cases_in_json_form(
    database: Database,
    cases: CaseService,
    customers: CustomerService,
    directory: CallerDirectory,
) -> None:
    from crm_sync.screenpop_lookup import CrmCallerLookup

    customer = await customers.create(name="Shirin Kamali", phones=[("+982133445566", "work")])
    case = await cases.open_case(customer_id=customer.id, subject="قطعی اینترنت", opened_at=OPENED)
    lookup = CrmCallerLookup(directory, cases, database)
    info = await lookup.lookup("02133445566")
    assert (info.presented, info.normalised, info.status) == (
        "02133445566",
        "+982133445566",
        "matched",
    )
    assert info.customers[0]["name"] == "Shirin Kamali"
    assert info.customers[0]["open_cases"][0]["tracking_code"] == case.tracking_code
    assert (await lookup.lookup("1001")).status == "extension"
    found = await lookup.case_by_code(case.tracking_code)
    assert found is not None
    assert (found["customer_name"], found["due_at"]) == (
        "Shirin Kamali",
        "2026-11-25T08:00:00+00:00",
    )
    assert await lookup.case_by_code("00000000") is None


async def test_find_with_owner_gives_the_owners_extension_for_ivr_routing(
    database: Database, cases: CaseService, customers: CustomerService
) -> None:
    async with database.sessions() as session:
        sara = Agent(username="sara", name="Sara Ahmadi")
        sara.devices = [Device(interface="SIP/1002", technology="SIP", extension="1002")]
        session.add(sara)
        await session.commit()
    customer = await customers.create(name="Routed")
    case = await cases.open_case(customer_id=customer.id, subject="x", owner_agent_id=sara.id)
    found = await cases.find_with_owner(case.tracking_code)
    assert found is not None
    assert (found[0].id, found[1]) == (case.id, "1002")
