"""Reports: the figures of replayed real traces and of a simulated day, written through the
call log into SQLite and PostgreSQL, equal figures worked out by hand here."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from crm_sync import reports
from crm_sync.call_log import CallLogWriter
from crm_sync.db import Database
from crm_sync.matching import CallerDirectory
from crm_sync.models import Agent, CallRecord, CallRollup, Case, Device, Queue
from crm_sync.reports import (
    ReportError,
    ReportRequest,
    build_table,
    call_report,
    day_range,
)
from crm_sync.settings import CrmConfig
from cti.events import CallEnded
from cti.figures import QueueTargets, TargetBook
from cti.replay import read_transcript, replay_events
from pbx_adapters.simulator import load_scenario, run_virtual, write_transcript

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
SCENARIOS = Path(__file__).parents[2] / "pbx_adapters" / "simulator" / "scenarios"
TEHRAN = zoneinfo.ZoneInfo("Asia/Tehran")
EPOCH_DAY = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(1970, 1, 2, tzinfo=dt.UTC))


def ended_calls(path: Path) -> list[CallEnded]:
    return [e for e in replay_events(read_transcript(path)) if isinstance(e, CallEnded)]


async def log_calls(
    database: Database,
    directory: CallerDirectory,
    config: CrmConfig,
    calls: list[CallEnded],
    aged: float = 1.0,
) -> None:
    """Write ``calls`` through the call log; the first ``aged`` share written an hour ago.

    Reports read calls written in the last minute raw and older ones from the
    rollups: aging some of them makes a report go through both paths.
    """
    writer = CallLogWriter(database, directory, config)
    for call in calls:
        assert await writer.handle(call) == "written"
    old = [c.call_id for c in calls[: round(len(calls) * aged)]]
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(CallRecord)
            .where(CallRecord.call_id.in_(old))
            .values(written_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        )


@pytest.fixture
def trace_calls() -> list[CallEnded]:
    calls: list[CallEnded] = []
    for name in ("busy_20_calls", "blind_transfer", "inbound_abandoned", "queue_status"):
        calls += ended_calls(FIXTURES / f"{name}.jsonl")
    calls += ended_calls(FIXTURES / "click_to_call.jsonl")
    # Each trace's clock starts at 0; the call ids tell the calls apart.
    return calls


async def test_real_traces_per_queue_by_hand(
    database: Database,
    directory: CallerDirectory,
    crm_config: CrmConfig,
    trace_calls: list[CallEnded],
) -> None:
    await log_calls(database, directory, crm_config, trace_calls)
    book = TargetBook(QueueTargets(threshold_seconds=20, short_abandon_seconds=5))
    request = ReportRequest(*EPOCH_DAY, ("queue",), dt.UTC)
    [support] = await call_report(database, request, book)
    # From the traces' summaries (tests/fixtures/ami/*.expected.jsonl), by hand:
    # busy_20_calls: 16 answered (waits below), 4 hung up after 3-4 s (short);
    # blind_transfer: answered after 1 s, 7 s of talk, one transfer;
    # inbound_abandoned: hung up after 4 s (short); queue_status: hung up after 12 s.
    waits = [1, 2, 3, 8, 9, 10, 15, 15, 16, 22, 23, 23, 29, 30, 31, 36, 1]
    talks = [8, 7, 6, 8, 7, 6, 8, 7, 6, 8, 7, 6, 8, 7, 6, 3, 7]
    f = support.figures
    assert dict(support.key) == {"queue": "support"}
    assert (f.offered, f.answered, f.abandoned, f.short_abandoned) == (18, 17, 1, 5)
    assert (f.answered_in_threshold, f.abandoned_in_threshold) == (10, 1)
    # Abandoned-in-threshold ignored (UCCE "ignore abandoned calls"): 10 / (18 - 1).
    assert f.service_level_pct == round(100 * 10 / 17, 1)
    assert f.asa_s == round(sum(waits) / 17, 1)
    assert f.aht_s == round(sum(talks) / 17, 1)
    assert (f.time_to_abandon_s, f.longest_wait_s, f.transfers) == (12.0, 36, 1)
    assert f.abandon_pct == round(100 * 1 / 18, 1)

    by_agent = {
        dict(r.key)["agent"]: r.figures
        for r in await call_report(database, dataclasses.replace(request, by=("agent",)), book)
    }
    # 1002 also made the click-to-call: outbound, answered, apart from the inbound figures.
    assert {a: (f.answered, f.outbound, f.outbound_answered) for a, f in by_agent.items()} == {
        "1001": (5, 0, 0),
        "1002": (6, 1, 1),
        "1003": (6, 0, 0),
    }
    assert by_agent["1003"].aht_s == round((7 * 5 + 7) / 6, 1)
    async with database.sessions() as session:
        assert (await session.scalar(select(func.count()).select_from(CallRollup)) or 0) > 0

    # Other targets: the rollups are rebuilt under them (answered within 10 s: 7 calls).
    tighter = TargetBook(QueueTargets(threshold_seconds=10, short_abandon_seconds=5))
    [support] = await call_report(database, request, tighter)
    assert support.figures.answered_in_threshold == 7
    # Not on a quarter hour: counted from the calls themselves, same figures.
    odd = dataclasses.replace(request, start=EPOCH_DAY[0] + dt.timedelta(seconds=-7))
    [raw] = await call_report(database, odd, tighter)
    assert raw.tally == support.tally


async def test_cli_json_rows_carry_the_named_keys(
    database: Database,
    directory: CallerDirectory,
    crm_config: CrmConfig,
    trace_calls: list[CallEnded],
) -> None:
    await log_calls(database, directory, crm_config, trace_calls)
    request = ReportRequest(*EPOCH_DAY, (), dt.UTC)
    now = dt.datetime.now(dt.UTC)
    book = TargetBook()
    queues = await build_table(database, "queues", request, book, "abandoned_ignored", now)
    agents = await build_table(database, "agents", request, book, "abandoned_ignored", now)
    keys = {"offered", "answered", "abandoned", "service_level_pct", "asa_s", "aht_s"}
    [row] = json.loads(json.dumps(queues.to_json()))["rows"]
    assert keys | {"queue"} <= set(row)
    assert (row["queue"], row["offered"]) == ("support", 18)
    assert all(keys | {"agent"} <= set(r) for r in agents.to_json()["rows"])
    assert "Cisco Unified CCE" in queues.to_json()["standard"]
    async with database.sessions() as session, session.begin():
        session.add(Queue(name="support", team="Front desk", sla_threshold_seconds=20))
    teams = await build_table(database, "teams", request, book, "abandoned_ignored", now)
    [team] = teams.to_json()["rows"]
    assert (team["team"], team["offered"], team["answered"]) == ("Front desk", 18, 17)
    csv_lines = queues.to_csv().splitlines()
    assert csv_lines[0].startswith("queue,offered,answered,abandoned,short_abandoned")
    assert csv_lines[1].startswith("support,18,17,1,5,")


async def test_a_simulated_day_per_queue_agent_and_half_hour_by_hand(
    database: Database,
    directory: CallerDirectory,
    crm_config: CrmConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rolled up a hundred calls at a time: a first build over a big log goes in steps.
    monkeypatch.setattr(reports, "ROLLUP_CHUNK", 100)
    scenario = load_scenario(SCENARIOS / "demo.toml")
    assert scenario.traffic is not None
    scenario.traffic.duration = 2 * 3600.0
    transcript = tmp_path / "day.jsonl"
    with transcript.open("w", encoding="utf-8") as fh:
        write_transcript(run_virtual(scenario), fh)
    calls = ended_calls(transcript)
    assert len(calls) > 300
    await log_calls(database, directory, crm_config, calls, aged=0.5)

    targets = {"support": QueueTargets(threshold_seconds=15, short_abandon_seconds=3)}
    book = TargetBook(QueueTargets(threshold_seconds=30, short_abandon_seconds=6), targets)
    start, end = day_range(dt.date(1969, 12, 31), dt.date(1970, 1, 1), TEHRAN)

    # By hand, straight from the call summaries.
    def threshold(q: str) -> int:
        return 15 if q == "support" else 30

    def short(q: str) -> int:
        return 3 if q == "support" else 6

    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    halves: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in calls:
        if c.direction == "outbound" or not c.queue:
            continue
        wait = c.wait_seconds or 0
        if c.disposition == "abandoned" and wait < short(c.queue):
            expected[c.queue]["short"] += 1
            continue
        local = dt.datetime.fromtimestamp(c.started_at or 0, TEHRAN)
        half = local.replace(minute=local.minute // 30 * 30, second=0, microsecond=0)
        for into in (expected[c.queue], halves[half.isoformat(timespec="minutes")]):
            into["offered"] += 1
            if c.disposition == "answered":
                into["answered"] += 1
                into["in"] += wait <= threshold(c.queue)
                into["wait"] += wait
            if c.disposition == "abandoned":
                into["abandoned"] += 1
                into["ab_in"] += wait <= threshold(c.queue)

    rows = await call_report(database, ReportRequest(start, end, ("queue",), TEHRAN), book)
    assert {dict(r.key)["queue"] for r in rows} == set(expected)
    for row in rows:
        e = expected[str(dict(row.key)["queue"])]
        f = row.figures
        assert (f.offered, f.answered, f.abandoned, f.short_abandoned) == (
            e["offered"], e["answered"], e["abandoned"], e["short"],
        )  # fmt: skip
        assert f.service_level_pct == round(100 * e["in"] / (e["offered"] - e["ab_in"]), 1)
        assert f.asa_s == round(e["wait"] / e["answered"], 1)

    per_half = await call_report(
        database, ReportRequest(start, end, ("interval",), TEHRAN, interval_minutes=30), book
    )
    got = {dict(r.key)["interval"]: (r.figures.offered, r.figures.abandoned) for r in per_half}
    want = {k: (v["offered"], v["abandoned"]) for k, v in halves.items()}
    assert {k: v for k, v in got.items() if v != (0, 0)} == want


async def test_case_work_per_person(database: Database) -> None:
    now = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    async with database.sessions() as session, session.begin():
        ali = Agent(username="ali", name="Ali")
        session.add(ali)
        await session.flush()
        session.add(
            Device(interface="PJSIP/1001", technology="PJSIP", extension="1001", agent_id=ali.id)
        )
        for n, (opened_h, resolved_h, status, due_h, fcr) in enumerate(
            [
                (-50, -49, "resolved", None, True),  # closed on first contact
                (-30, -2, "closed", None, False),  # closed, more contacts
                (-40, None, "open", -10, False),  # overdue
                (-5, None, "open", 20, False),  # open, on time
            ]
        ):
            session.add(
                Case(
                    tracking_code=f"4000{n:04d}",
                    subject="s",
                    status=status,
                    owner_agent_id=ali.id,
                    opened_at=now + dt.timedelta(hours=opened_h),
                    resolved_at=None
                    if resolved_h is None
                    else now + dt.timedelta(hours=resolved_h),
                    due_at=None if due_h is None else now + dt.timedelta(hours=due_h),
                    first_contact_resolution=fcr,
                )
            )
    request = ReportRequest(now - dt.timedelta(days=7), now, (), dt.UTC)
    table = await build_table(database, "agents", request, TargetBook(), "abandoned_ignored", now)
    [row] = table.to_json()["rows"]
    assert row["agent"] == "1001"
    assert (row["cases_opened"], row["cases_closed"], row["cases_overdue"]) == (4, 2, 1)
    assert row["first_contact_resolution_pct"] == 50.0


def test_bad_ranges_are_refused_with_the_field_named() -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with pytest.raises(ReportError, match="to: must be after from"):
        ReportRequest(start, start, ("queue",), dt.UTC)
    with pytest.raises(ReportError, match="366 days"):
        ReportRequest(start, start + dt.timedelta(days=400), ("queue",), dt.UTC)
    with pytest.raises(ReportError, match="interval"):
        ReportRequest(start, start + dt.timedelta(days=1), ("interval",), dt.UTC, 20)
    with pytest.raises(ReportError, match="to: must not be before from"):
        day_range(dt.date(2026, 11, 2), dt.date(2026, 11, 1), dt.UTC)
