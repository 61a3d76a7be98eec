"""CSV import and export: BOM or not, Persian text, per-line errors, all-or-nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from crm_sync.csv_export import export_csv
from crm_sync.csv_io import CsvImporter, CsvImportError, RowError, parse_date
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Agent, Case, Contract, Customer, Device, PhoneNumber
from crm_sync.phones import PhoneNormaliser
from crm_sync.settings import CrmConfig

CUSTOMERS = (
    "ref,name,kind,phones,email,vip,owner_extension,language\n"
    "C-1,کاوه مرادی,person,0912 123 4567,kaveh@example.com,yes,1001,fa\n"
    'C-2,Pars Data Co,company,"work:021-8877-6655; mobile:+98 935 111 2233",,no,,en\n'
    "C-3,نرگس نوری,,۰۹۱۳۱۲۳۴۵۶۷,,بله,,fa\n"
)


@pytest.fixture
async def importer(
    database: Database, normaliser: PhoneNormaliser, crm_config: CrmConfig
) -> CsvImporter:
    async with database.sessions() as session:
        ali = Agent(username="ali", name="Ali Rezaei")
        ali.devices = [Device(interface="PJSIP/1001", technology="PJSIP", extension="1001")]
        session.add(ali)
        await session.commit()
    return CsvImporter(database, normaliser, crm_config)


async def _count(database: Database, model: type) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
async def test_customers_with_persian_names_import_with_or_without_bom(
    database: Database,
    importer: CsvImporter,
    directory: CallerDirectory,
    bom: bytes,
) -> None:
    report = await importer.import_bytes(bom + CUSTOMERS.encode(), "customers")
    assert report.errors == []
    assert (report.rows, report.imported) == (3, 3)
    kaveh = (await directory.lookup("+989121234567")).best
    assert kaveh is not None
    assert (kaveh.name, kaveh.vip, kaveh.owner_extension, kaveh.language) == (
        "کاوه مرادی",
        True,
        "1001",
        "fa",
    )
    pars = (await directory.lookup("02188776655")).best
    assert pars is not None and pars.kind == "company"
    assert sorted((p.kind, p.e164) for p in pars.phones) == [
        ("mobile", "+989351112233"),
        ("work", "+982188776655"),
    ]
    narges = (await directory.lookup("09131234567")).best
    assert narges is not None and (narges.name, narges.vip) == ("نرگس نوری", True)


BAD_CUSTOMERS = (
    "ref,name,phones,email,vip,owner_extension\n"
    "C-1,Good One,09121234567,,,\n"
    "C-2,,09121234568,,,\n"  # line 3: no name
    "C-3,Bad Phone,not-a-number,,,\n"  # line 4
    "C-4,Bad Mail,09121234569,nobody-at-example,,\n"  # line 5
    "C-1,Repeat,09121234570,,,\n"  # line 6: ref repeats line 2
    '"C-5","Multi\nLine",09121234571,,maybe,9999\n'  # lines 7-8: vip and owner wrong
    "C-6,Good Two,02188776655,,,\n"  # line 9
)


async def test_each_bad_row_is_reported_by_line_and_column_and_good_rows_go_in(
    database: Database, importer: CsvImporter
) -> None:
    report = await importer.import_bytes(BAD_CUSTOMERS.encode(), "customers")
    assert [(e.line, e.column) for e in report.errors] == [
        (3, "name"),
        (4, "phones"),
        (5, "email"),
        (6, "ref"),
        (7, "vip"),
        (7, "owner_extension"),
    ]
    assert str(report.errors[3]) == "line 6, column ref: 'C-1' repeats line 2"
    assert report.imported == 2
    async with database.sessions() as session:
        names = sorted(await session.scalars(select(Customer.name)))
    assert names == ["Good One", "Good Two"]


async def test_strict_import_writes_nothing_when_any_row_is_bad(
    database: Database, importer: CsvImporter
) -> None:
    report = await importer.import_bytes(BAD_CUSTOMERS.encode(), "customers", strict=True)
    assert len(report.errors) == 6
    assert report.imported == 0
    assert await _count(database, Customer) == 0
    assert await _count(database, PhoneNumber) == 0


async def test_unknown_and_missing_columns_are_reported_on_line_one(importer: CsvImporter) -> None:
    report = await importer.import_bytes(b"ref,fullname\nC-1,X\n", "customers")
    assert report.errors == [
        RowError(1, "fullname", report.errors[0].message),
        RowError(1, "name", "required column is missing"),
    ]
    assert "unknown column" in report.errors[0].message
    assert report.imported == 0


async def test_a_file_that_is_not_utf8_is_refused_with_its_line(importer: CsvImporter) -> None:
    data = b"ref,name\nC-1,ok\n" + "C-2,سلام\n".encode("cp1256")
    with pytest.raises(CsvImportError, match=r"line 3: not UTF-8"):
        await importer.import_bytes(data, "customers")


async def test_existing_customer_refs_are_not_imported_again(
    database: Database, importer: CsvImporter
) -> None:
    await importer.import_bytes(CUSTOMERS.encode(), "customers")
    report = await importer.import_bytes(CUSTOMERS.encode(), "customers")
    assert [(e.line, e.column) for e in report.errors] == [(2, "ref"), (3, "ref"), (4, "ref")]
    assert await _count(database, Customer) == 3


async def test_contracts_refer_to_customers_and_accept_jalali_dates(
    database: Database, importer: CsvImporter
) -> None:
    await importer.import_bytes(CUSTOMERS.encode(), "customers")
    contracts = (
        "customer_ref,plan,starts_on,ends_on\n"
        "C-1,Gold,1405/01/01,1405/12/29\n"
        "C-2,Basic,2026-01-01,\n"
        "C-9,Gold,2026-01-01,2026-12-31\n"  # line 4: unknown customer
        "C-3,Gold,2026-06-01,2026-01-01\n"  # line 5: ends before it starts
    )
    report = await importer.import_bytes(contracts.encode(), "contracts")
    assert [(e.line, e.column) for e in report.errors] == [(4, "customer_ref"), (5, "ends_on")]
    async with database.sessions() as session:
        stored = (await session.scalars(select(Contract).order_by(Contract.id))).all()
    assert [(c.plan, c.starts_on, c.ends_on) for c in stored] == [
        ("Gold", dt.date(2026, 3, 21), dt.date(2027, 3, 20)),
        ("Basic", dt.date(2026, 1, 1), None),
    ]


async def test_cases_keep_valid_codes_refuse_bad_ones_and_get_fresh_ones(
    database: Database, importer: CsvImporter
) -> None:
    await importer.import_bytes(CUSTOMERS.encode(), "customers")
    cases = (
        "tracking_code,customer_ref,subject,status,priority,owner_extension,opened_at\n"
        "40012345,C-1,قطعی اینترنت,open,high,1001,2026-11-23T08:00:00+03:30\n"
        ",C-2,Invoice,pending,,,\n"
        "40012346,C-3,Typo in code,open,normal,,\n"  # line 4: check digit wrong
        ",C-3,Bad status,waiting,normal,,\n"  # line 5
    )
    # 40012345 ends in its Verhoeff digit; 40012346 is one digit off it.
    report = await importer.import_bytes(cases.encode(), "cases")
    assert [(e.line, e.column) for e in report.errors] == [
        (4, "tracking_code"),
        (5, "status"),
    ]
    async with database.sessions() as session:
        stored = (await session.scalars(select(Case).order_by(Case.id))).all()
    assert stored[0].tracking_code == "40012345"
    assert stored[0].opened_at == dt.datetime(2026, 11, 23, 4, 30, tzinfo=dt.UTC)
    assert stored[0].priority == "high"
    assert len(stored[1].tracking_code) == 8 and stored[1].status == "pending"


async def test_export_then_import_into_an_empty_database_gives_the_same_customers(
    database: Database, importer: CsvImporter
) -> None:
    await importer.import_bytes(CUSTOMERS.encode(), "customers")
    out = io.StringIO()
    assert await export_csv(database, "customers", out) == 3
    text = out.getvalue()
    assert text.startswith("\ufeffref,name,kind,phones,")
    assert "کاوه مرادی" in text
    assert "work:021-8877-6655; mobile:+98 935 111 2233" in text
    # Importing the export elsewhere refuses only because the refs exist here.
    report = await importer.import_bytes(text.encode(), "customers")
    assert [e.column for e in report.errors] == ["ref", "ref", "ref"]


def test_dates_in_iso_jalali_and_persian_digits() -> None:
    assert parse_date("2026-03-21") == dt.date(2026, 3, 21)
    assert parse_date("1405/01/01") == dt.date(2026, 3, 21)
    assert parse_date("۱۴۰۵/۰۱/۰۱") == dt.date(2026, 3, 21)
    with pytest.raises(ValueError, match="is not a date"):
        parse_date("21.03.2026")
