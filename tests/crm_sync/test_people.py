"""People, devices, queues, labels and API tokens: the admin service layer and its audit log."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from crm_sync.api_tokens import ApiTokens
from crm_sync.audit import AuditLog, write_csv
from crm_sync.catalog import Catalog
from crm_sync.db import Database
from crm_sync.models import Agent
from crm_sync.passwords import verify_password
from crm_sync.people import AdminError, People, parse_interface

GOOD = "horse-battery-7"


@pytest.fixture
def people(database: Database) -> People:
    return People(database)


async def _admin(people: People) -> None:
    await people.create("cli:root", username="boss", name="Boss", password=GOOD, roles=["admin"])


async def test_a_person_holds_several_roles_and_devices_and_the_change_is_audited(
    people: People, database: Database
) -> None:
    person = await people.create(
        "boss",
        username="Ali",
        name="Ali Rezaei",
        password=GOOD,
        roles=["agent", "supervisor"],
        extensions=["PJSIP/1001", "Local/1001@from-queue/n", "SIP/1101"],
        crm_user_id="u-77",
    )
    assert person.username == "ali"
    assert person.roles == ("agent", "supervisor")
    assert person.extensions == ("1001", "1101")
    assert [d.interface for d in person.devices] == [
        "Local/1001@from-queue/n",
        "PJSIP/1001",
        "SIP/1101",
    ]
    async with database.sessions() as session:
        stored = await session.scalar(select(Agent).where(Agent.username == "ali"))
    assert stored is not None and verify_password(GOOD, stored.password_hash)
    entries = await AuditLog(database).entries()
    created = [e for e in entries if e.action == "user.create"]
    assert len(created) == 1
    assert created[0].actor == "boss" and created[0].before is None
    assert created[0].after is not None and created[0].after["crm_user_id"] == "u-77"
    assert "password" not in str(created[0].after) and GOOD not in str(entries)
    assert sorted(e.target for e in entries if e.action == "extension.map") == [
        "device:Local/1001@from-queue/n",
        "device:PJSIP/1001",
        "device:SIP/1101",
    ]


async def test_an_extension_of_one_person_is_refused_to_another_naming_the_owner(
    people: People,
) -> None:
    await people.create("a", username="ali", name="Ali Rezaei", password=GOOD, extensions=["1001"])
    await people.create("a", username="sara", name="Sara Ahmadi", password=GOOD)
    with pytest.raises(AdminError) as refused:
        await people.map_device("a", "SIP/1001", "sara")
    assert refused.value.field == "extension" and refused.value.status == 409
    assert "Ali Rezaei (ali)" in str(refused.value)
    await people.unmap_device("a", "1001")
    device = await people.map_device("a", "SIP/1001", "sara", label="softphone")
    assert (device.username, device.label, device.technology) == ("sara", "softphone", "SIP")
    assert (await people.get("ali")).extensions == ()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "Bad Name"}, "username"),
        ({"password": "short1"}, "password"),
        ({"password": "onlyletterslong"}, "password"),
        ({"password": "xx-ali-1234567"}, "password"),
        ({"roles": ["janitor"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"extensions": ["PJSIP/10a1"]}, "extension"),
        ({"extensions": ["Dahdi/1"]}, "extension"),
        ({"email": "not-an-email"}, "email"),
        ({"language": "de"}, "language"),
    ],
)
async def test_bad_input_names_the_field(
    people: People, changes: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {"username": "ali", "name": "Ali", "password": GOOD}
    values.update(changes)
    with pytest.raises(AdminError) as refused:
        await people.create("boss", **values)  # type: ignore[arg-type]
    assert refused.value.field == field and refused.value.status == 400
    assert await people.count() == 0


async def test_a_taken_username_is_a_conflict(people: People) -> None:
    await people.create("boss", username="ali", name="Ali", password=GOOD)
    with pytest.raises(AdminError) as refused:
        await people.create("boss", username="ALI", name="Other", password=GOOD)
    assert (refused.value.field, refused.value.status) == ("username", 409)


async def test_the_last_admin_cannot_be_disabled_or_lose_the_role(people: People) -> None:
    await _admin(people)
    with pytest.raises(AdminError, match="last active admin"):
        await people.set_active("boss", "boss", False)
    with pytest.raises(AdminError, match="last active admin"):
        await people.update("boss", "boss", roles=["agent"])
    await people.create("boss", username="deputy", name="D", password=GOOD, roles=["admin"])
    disabled = await people.set_active("boss", "boss", False)
    assert disabled.active is False
    assert await people.count() == 1


async def test_parse_interface_reads_every_kind_of_member() -> None:
    assert parse_interface("1001") == ("PJSIP", "1001", "PJSIP/1001")
    assert parse_interface("1001", "sip") == ("SIP", "1001", "SIP/1001")
    assert parse_interface("iax2/1002") == ("IAX2", "1002", "IAX2/1002")
    assert parse_interface("Local/1003@from-queue/n") == (
        "Local",
        "1003",
        "Local/1003@from-queue/n",
    )
    with pytest.raises(AdminError):
        parse_interface("1001", "Local")


async def test_queues_keep_names_sla_and_supervisors_and_refuse_unknown_ones(
    people: People, database: Database
) -> None:
    catalog = Catalog(database)
    await people.create("boss", username="maryam", name="M", password=GOOD, roles=["supervisor"])
    await people.create("boss", username="ali", name="Ali", password=GOOD)
    queue = await catalog.save_queue(
        "boss",
        "support",
        display_fa="پشتیبانی",
        display_en="Support",
        sla_target_percent=90,
        sla_threshold_seconds=15,
        supervisors=["maryam"],
    )
    assert (queue.display_fa, queue.sla_target_percent, queue.supervisors) == (
        "پشتیبانی",
        90,
        ("maryam",),
    )
    maryam = await people.get("maryam")
    assert await catalog.visible_queues(maryam.id) == ("support",)
    with pytest.raises(AdminError) as refused:
        await catalog.save_queue("boss", "sales", team="x", create=False)
    assert (refused.value.field, refused.value.status) == ("queue", 404)
    with pytest.raises(AdminError) as refused:
        await catalog.save_queue("boss", "support", supervisors=["ali"])
    assert refused.value.field == "supervisors"
    with pytest.raises(AdminError) as refused:
        await catalog.save_queue("boss", "support", sla_target_percent=101)
    assert refused.value.field == "sla_target_percent"
    updates = await AuditLog(database).entries(action="queue.")
    assert [e.action for e in updates] == ["queue.create"]


async def test_pause_reasons_and_dispositions_are_data_in_both_languages(
    database: Database,
) -> None:
    catalog = Catalog(database)
    reasons = await catalog.labels("pause_reasons")
    by_code = {r.code: r for r in reasons}
    assert {"break", "lunch", "training", "meeting"} <= set(by_code)
    assert (by_code["break"].label_fa, by_code["break"].label_en) == ("استراحت", "Break")
    assert by_code["break"].position < by_code["lunch"].position
    changed = await catalog.save_label("boss", "dispositions", "sale", active=False)
    assert changed.active is False
    assert "sale" not in [d.code for d in await catalog.labels("dispositions", active_only=True)]
    with pytest.raises(AdminError) as refused:
        await catalog.save_label("boss", "dispositions", "new_one", label_en="New")
    assert refused.value.field == "label_fa"


async def test_an_api_token_is_shown_once_stored_hashed_and_dies_when_revoked(
    people: People, database: Database
) -> None:
    await _admin(people)
    await people.create("boss", username="crm", name="CRM bot", password=GOOD)
    tokens = ApiTokens(database)
    token, info = await tokens.create("boss", name="CRM", scopes=["calls:read"], username="crm")
    assert token.startswith("cth_") and token not in str(await AuditLog(database).entries())
    grant = await tokens.verify(token)
    assert grant is not None and grant.person.username == "crm"
    assert grant.scopes == frozenset({"calls:read"})
    listed = await tokens.everyone()
    assert listed[0].last_used_at is not None and token not in str(listed[0].json())
    assert await tokens.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    await people.set_active("boss", "crm", False)
    assert await tokens.verify(token) is None
    await people.set_active("boss", "crm", True)
    await tokens.revoke("boss", info.id)
    assert await tokens.verify(token) is None
    with pytest.raises(AdminError) as refused:
        await tokens.create("boss", name="x", scopes=["admin:all"], username="crm")
    assert refused.value.field == "scopes"


async def test_audit_csv_quotes_cells_a_spreadsheet_would_run(database: Database) -> None:
    audit = AuditLog(database)
    await audit.record("=cmd|' /C calc'!A0", "user.update", "user:x", {"a": 1}, {"a": 2})
    out = io.StringIO()
    write_csv(await audit.entries(), out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "id,at,actor,action,target,before,after"
    assert "'=cmd" in lines[1] and '"{""a"": 1}"' in lines[1]


async def test_upgrading_moves_each_agents_role_and_extension_into_the_new_tables(
    tmp_path: object,
) -> None:
    from pathlib import Path

    from sqlalchemy import text

    from crm_sync.migrations import upgrade
    from crm_sync.settings import DatabaseConfig

    url = f"sqlite+aiosqlite:///{Path(str(tmp_path)) / 'old.sqlite3'}"
    await upgrade(url, "0002")
    database = Database(DatabaseConfig(url=url))
    try:
        async with database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO agents (username, name, extension, role, active, created_at) "
                    "VALUES ('ali', 'Ali', '1001', 'agent', 1, '2026-11-01 08:00:00'), "
                    "('maryam', 'Maryam', NULL, 'supervisor', 1, '2026-11-01 08:00:00')"
                )
            )
        await upgrade(url)
        people = People(database)
        ali, maryam = await people.get("ali"), await people.get("maryam")
        assert (ali.roles, ali.extensions) == (("agent",), ("1001",))
        assert (maryam.roles, maryam.extensions) == (("supervisor",), ())
        assert [d.interface for d in ali.devices] == ["PJSIP/1001"]
    finally:
        await database.dispose()
