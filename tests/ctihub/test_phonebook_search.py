"""Phonebook search by any part of a name or number, Persian and English, on both databases."""

from __future__ import annotations

from sqlalchemy import select

from crm_sync.customers import CustomerService
from crm_sync.db import Database
from crm_sync.models import Customer
from crm_sync.phonebook import fold, fold_query
from crm_sync.phones import PhoneNormaliser
from ctihub.panel_backend import CrmPhonebook


def test_arabic_and_persian_forms_of_yeh_and_kaf_fold_alike() -> None:
    assert fold("علي كريمي") == fold("علی کریمی") == "علی کریمی"
    assert fold("محمد\u200cرضا") == fold("محمدرضا")
    assert fold("  Laleh   FARAHANI ") == "laleh farahani"
    assert fold_query("۰۹۱۲ ۱۲۳-۴۵") == "091212345"
    assert fold_query("+98 (912)") == "98912"


async def _names(phonebook: CrmPhonebook, query: str) -> list[str]:
    return [entry.name for entry in await phonebook.search(query, 20)]


async def test_any_part_of_a_name_or_number_finds_the_customer(database: Database) -> None:
    customers = CustomerService(database, PhoneNormaliser("IR"))
    await customers.create(name="علی کریمی", phones=[("0912 123 4567", "mobile")])
    await customers.create(name="Laleh Farahani", phones=[("+98 21 7766 5544", "work")])
    await customers.create(name="Karim Alavi", ref="C-0042")
    phonebook = CrmPhonebook(database)

    assert await _names(phonebook, "كريم") == ["علی کریمی"]  # typed with Arabic ك and ي
    assert await _names(phonebook, "farah") == ["Laleh Farahani"]  # inside the name
    assert await _names(phonebook, "HANI") == ["Laleh Farahani"]
    assert await _names(phonebook, "۱۲۳۴۵") == ["علی کریمی"]  # Persian digits, middle of the number
    assert await _names(phonebook, "776655") == ["Laleh Farahani"]
    assert await _names(phonebook, "c-0042") == ["Karim Alavi"]
    assert sorted(await _names(phonebook, "kari")) == ["Karim Alavi"]
    assert await _names(phonebook, "nobody") == []
    assert await _names(phonebook, "la") == ["Laleh Farahani"]  # short: start of the name only


async def test_renaming_and_new_numbers_are_searchable_at_once(database: Database) -> None:
    customers = CustomerService(database, PhoneNormaliser("IR"))
    created = await customers.create(name="Old Name")
    await customers.update(created.id, name="Nasrin Tehrani")
    await customers.add_phone(created.id, "02188776655")
    phonebook = CrmPhonebook(database)
    assert await _names(phonebook, "tehran") == ["Nasrin Tehrani"]
    assert await _names(phonebook, "88776655") == ["Nasrin Tehrani"]
    assert await _names(phonebook, "old name") == []
    async with database.sessions() as session:
        stored = await session.scalar(select(Customer.search_text))
    assert stored == "nasrin tehrani 02188776655 982188776655"
