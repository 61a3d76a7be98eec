"""Caller matching on SQLite and PostgreSQL: exact, suffix, ranked, unknown, cached."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from crm_sync.cases import CaseService
from crm_sync.customers import CustomerService
from crm_sync.db import Changes, Database
from crm_sync.matching import CallerDirectory, ContractInfo, contract_state
from crm_sync.models import CallRecord, Contract, Customer, PhoneNumber
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig


@pytest.fixture
def customers(database: Database, normaliser: PhoneNormaliser) -> CustomerService:
    return CustomerService(database, normaliser)


async def _set_activity(database: Database, customer_id: int, when: dt.datetime) -> None:
    async with database.sessions() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        customer.last_activity_at = when
        await session.commit()


async def test_caller_in_national_form_finds_customer_stored_in_international_form(
    customers: CustomerService, directory: CallerDirectory
) -> None:
    kaveh = await customers.create(name="کاوه مرادی", phones=[("+98 912 123 4567", "mobile")])
    match = await directory.lookup("09121234567")
    assert match.status == "matched"
    assert [c.id for c in match.customers] == [kaveh.id]
    assert match.best is not None
    assert match.best.name == "کاوه مرادی"
    assert match.best.matched_by == "exact"
    assert match.best.phones[0].raw == "+98 912 123 4567"


async def test_customers_sharing_a_number_come_back_most_recent_activity_first(
    database: Database, customers: CustomerService, directory: CallerDirectory
) -> None:
    office = ("021 8877 6655", "work")
    old = await customers.create(name="Pars Data Co", kind="company", phones=[office])
    recent = await customers.create(name="Nasrin Tehrani", phones=[office])
    never = await customers.create(name="Reception", phones=[office])
    await _set_activity(database, old.id, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    await _set_activity(database, recent.id, dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    match = await directory.lookup("+982188776655")
    assert [c.name for c in match.customers] == ["Nasrin Tehrani", "Pars Data Co", "Reception"]
    assert never.id == match.customers[-1].id


async def test_local_number_without_area_code_is_found_by_its_last_digits(
    customers: CustomerService, directory: CallerDirectory
) -> None:
    await customers.create(name="Nasrin Tehrani", phones=[("02188776655", "landline")])
    match = await directory.lookup("88776655")
    assert match.status == "matched"
    assert match.best is not None
    assert match.best.name == "Nasrin Tehrani"
    assert match.best.matched_by == "suffix"


async def test_suffix_match_can_be_turned_off(
    database: Database, customers: CustomerService, normaliser: PhoneNormaliser
) -> None:
    await customers.create(name="Nasrin Tehrani", phones=[("02188776655", "landline")])
    strict = CallerDirectory.for_database(database, normaliser, CrmConfig(suffix_match_digits=0))
    try:
        assert (await strict.lookup("88776655")).status == "unknown"
    finally:
        await strict.close()


async def test_exact_match_wins_over_suffix_matches(
    customers: CustomerService, directory: CallerDirectory
) -> None:
    await customers.create(name="Exact", phones=[("09121234567", "mobile")])
    await customers.create(name="Same tail", phones=[("09351234567", "mobile")])
    match = await directory.lookup("+989121234567")
    assert [c.name for c in match.customers] == ["Exact"]


@pytest.mark.parametrize("caller", [None, "", "anonymous", "unknown", "<garbage>"])
async def test_unknown_caller_ids_give_an_unknown_result(
    directory: CallerDirectory, caller: str | None
) -> None:
    match = await directory.lookup(caller)
    assert match.status == "unknown"
    assert match.customers == ()


async def test_a_number_nobody_has_is_an_unknown_caller(
    customers: CustomerService, directory: CallerDirectory
) -> None:
    await customers.create(name="Someone", phones=[("09121234567", "mobile")])
    match = await directory.lookup("+989301234567")
    assert match.status == "unknown"
    assert match.number.e164 == "+989301234567"


async def test_extensions_are_never_matched_to_customers(
    database: Database, directory: CallerDirectory
) -> None:
    # Even a customer whose "number" was entered as 1002 is not a match for extension 1002.
    async with database.sessions() as session:
        customer = Customer(name="Odd data")
        customer.phones.append(PhoneNumber(raw="1002", e164=None, reversed_digits=None))
        session.add(customer)
        await session.commit()
    match = await directory.lookup("1002")
    assert match.status == "extension"
    assert match.customers == ()


async def test_pop_carries_contract_open_cases_and_the_last_five_calls(
    database: Database,
    customers: CustomerService,
    directory: CallerDirectory,
    crm_config: CrmConfig,
) -> None:
    customer = await customers.create(name="Shirin Kamali", phones=[("+982133445566", "work")])
    today = dt.datetime.now(dt.UTC).date()
    cases = CaseService(database, crm_config)
    older = await cases.open_case(
        customer_id=customer.id,
        subject="Router",
        opened_at=dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC),
    )
    open_case = await cases.open_case(
        customer_id=customer.id,
        subject="قطعی اینترنت",
        opened_at=dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC),
    )
    closed_case = await cases.open_case(customer_id=customer.id, subject="Old invoice")
    await cases.set_status(closed_case.id, "closed")
    async with database.sessions() as session:
        session.add(
            Contract(
                customer_id=customer.id,
                plan="Gold",
                starts_on=today - dt.timedelta(days=100),
                ends_on=today + dt.timedelta(days=200),
            )
        )
        for minute in range(7):
            session.add(
                CallRecord(
                    call_id=f"call-{minute}",
                    direction="inbound",
                    disposition="answered",
                    customer_id=customer.id,
                    started_at=dt.datetime(2026, 11, 23, 0, minute, tzinfo=dt.UTC),
                )
            )
        await session.commit()
    best = (await directory.lookup("02133445566")).best
    assert best is not None
    assert best.contract == ContractInfo("active", "Gold", today + dt.timedelta(days=200))
    assert [c.tracking_code for c in best.open_cases] == [
        open_case.tracking_code,
        older.tracking_code,
    ]
    assert best.open_cases[0].subject == "قطعی اینترنت"
    assert best.open_cases[0].due_at == dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
    assert [p.e164 for p in best.phones] == ["+982133445566"]
    assert [c.call_id for c in best.recent_calls] == [f"call-{m}" for m in (6, 5, 4, 3, 2)]


async def test_adding_a_number_turns_a_cached_unknown_into_a_match(
    customers: CustomerService, directory: CallerDirectory
) -> None:
    customer = await customers.create(name="Elham Rostami")
    assert (await directory.lookup("+989351112233")).status == "unknown"
    await customers.add_phone(customer.id, "0935 111 2233")
    match = await directory.lookup("+989351112233")
    assert match.status == "matched"
    assert match.best is not None and match.best.name == "Elham Rostami"


async def test_renaming_a_customer_shows_at_the_next_lookup(
    customers: CustomerService, directory: CallerDirectory
) -> None:
    customer = await customers.create(name="Hamid", phones=[("09131234567", "mobile")])
    assert (await directory.lookup("09131234567")).customers[0].name == "Hamid"
    assert len(directory.cache) == 1
    await customers.update(customer.id, name="Hamid Ghasemi", vip=True)
    best = (await directory.lookup("09131234567")).best
    assert best is not None
    assert (best.name, best.vip) == ("Hamid Ghasemi", True)


async def test_removing_a_number_stops_it_matching(
    database: Database, customers: CustomerService, directory: CallerDirectory
) -> None:
    customer = await customers.create(name="Omid", phones=[("02188990011", "work")])
    assert (await directory.lookup("02188990011")).status == "matched"
    async with database.sessions() as session:
        phone_id = await session.scalar(
            select(PhoneNumber.id).where(PhoneNumber.customer_id == customer.id)
        )
    assert phone_id is not None
    await customers.remove_phone(phone_id)
    assert (await directory.lookup("02188990011")).status == "unknown"


async def test_cache_serves_repeat_lookups_until_told_of_a_change_made_elsewhere(
    database: Database, customers: CustomerService, directory: CallerDirectory
) -> None:
    customer = await customers.create(name="Before", phones=[("09121112222", "mobile")])
    await directory.lookup("09121112222")
    # A change the ORM does not see (raw SQL, another process): the cache keeps the old name...
    async with database.engine.begin() as connection:
        from sqlalchemy import update

        await connection.execute(
            update(Customer).where(Customer.id == customer.id).values(name="After")
        )
    assert (await directory.lookup("09121112222")).customers[0].name == "Before"
    # ...until the change is announced (what bulk imports do).
    database.notify(Changes(customer_ids=frozenset({customer.id})))
    assert (await directory.lookup("09121112222")).customers[0].name == "After"


async def test_screen_pop_json_form_has_iso_dates(
    customers: CustomerService, directory: CallerDirectory
) -> None:
    await customers.create(name="Laleh", phones=[("+982177665544", "work")])
    data = (await directory.lookup("02177665544")).to_dict()
    assert data["status"] == "matched"
    assert data["number"]["e164"] == "+982177665544"
    assert data["customers"][0]["contract"] == {"state": "none", "plan": None, "ends_on": None}


TODAY = dt.date(2026, 11, 28)


@pytest.mark.parametrize(
    ("contracts", "expected"),
    [
        ([], ContractInfo("none")),
        ([("Gold", dt.date(2026, 1, 1), None)], ContractInfo("active", "Gold", None)),
        (
            [("Gold", dt.date(2026, 1, 1), dt.date(2027, 1, 1))],
            ContractInfo("active", "Gold", dt.date(2027, 1, 1)),
        ),
        (
            [("Basic", dt.date(2026, 1, 1), dt.date(2026, 12, 28))],
            ContractInfo("expiring", "Basic", dt.date(2026, 12, 28)),
        ),
        (
            [("Basic", dt.date(2025, 1, 1), dt.date(2026, 11, 28))],
            ContractInfo("expiring", "Basic", dt.date(2026, 11, 28)),
        ),
        (
            [("Basic", dt.date(2025, 1, 1), dt.date(2026, 11, 27))],
            ContractInfo("expired", "Basic", dt.date(2026, 11, 27)),
        ),
        (
            [
                ("Old", dt.date(2024, 1, 1), dt.date(2025, 1, 1)),
                ("New", dt.date(2026, 6, 1), dt.date(2027, 6, 1)),
            ],
            ContractInfo("active", "New", dt.date(2027, 6, 1)),
        ),
        ([("Future", dt.date(2027, 1, 1), dt.date(2028, 1, 1))], ContractInfo("none")),
    ],
)
def test_contract_state_on_a_given_day(
    contracts: list[tuple[str, dt.date | None, dt.date | None]], expected: ContractInfo
) -> None:
    assert contract_state(contracts, TODAY, expiring_days=30) == expected


async def test_ivr_contract_state_for_an_expired_customer_and_for_strangers(
    database: Database, customers: CustomerService, directory: CallerDirectory
) -> None:
    behzad = await customers.create(name="Behzad Nikpour", phones=[("+982166554433", "work")])
    today = dt.datetime.now(dt.UTC).date()
    async with database.sessions() as session:
        session.add(
            Contract(
                customer_id=behzad.id,
                plan="Basic",
                starts_on=today - dt.timedelta(days=400),
                ends_on=today - dt.timedelta(days=35),
            )
        )
        await session.commit()
    assert await directory.contract_state("02166554433") == "expired"
    assert await directory.contract_state("+989301234567") == "none"
    assert await directory.contract_state("anonymous") == "none"


async def test_batch_of_numbers_gets_the_same_best_customer_as_one_lookup_each(
    database: Database,
    customers: CustomerService,
    normaliser: PhoneNormaliser,
    crm_config: CrmConfig,
) -> None:
    office = ("021 8877 6655", "work")
    old = await customers.create(name="Pars Data Co", kind="company", phones=[office])
    recent = await customers.create(name="Nasrin Tehrani", phones=[office])
    await customers.create(name="Kaveh", phones=[("+98 912 123 4567", "mobile")])
    await customers.create(name="Shop", phones=[("02144556677", "landline")])
    await _set_activity(database, old.id, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    await _set_activity(database, recent.id, dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    numbers = ["+982188776655", "09121234567", "44556677", "09350000000", "1001", "anonymous"]
    # Separate directories, so neither answer comes from the other's cache.
    batch = CallerDirectory.for_database(database, normaliser, crm_config)
    single = CallerDirectory.for_database(database, normaliser, crm_config)
    try:
        found = await batch.best_customers(numbers)
        expected = {}
        for number in numbers:
            match = await single.lookup(number)
            expected[number] = match.best.id if match.best else None
        # Once looked up, the cache answers the batch too.
        cached = await single.best_customers(numbers)
    finally:
        await batch.close()
        await single.close()
    assert found == expected == cached
    assert found["+982188776655"] == recent.id
    assert [found[n] is None for n in numbers] == [False, False, False, True, True, True]
