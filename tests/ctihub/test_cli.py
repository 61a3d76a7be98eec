"""The ``ctihub`` command line, run as a user would run it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ctihub.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"


def test_replay_jsonl_prints_exactly_the_summary_keys(capsys: object) -> None:
    assert main(["replay", "--format", "jsonl", str(FIXTURES / "click_to_call.jsonl")]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    (line,) = out.splitlines()
    row = json.loads(line)
    assert list(row) == [
        "call_id",
        "direction",
        "caller",
        "dialed",
        "queue",
        "agent",
        "agents_rung",
        "disposition",
        "wait_seconds",
        "talk_seconds",
        "recording",
        "transfers",
        "ivr_input",
    ]
    assert (row["direction"], row["caller"], row["dialed"], row["agent"]) == (
        "outbound",
        "1002",
        "02177665544",
        "1002",
    )


def test_replay_of_several_files_prints_a_table_row_per_call(capsys: object) -> None:
    files = [str(FIXTURES / "inbound_abandoned.ami"), str(FIXTURES / "blind_transfer.jsonl")]
    assert main(["replay", *files]) == 0
    lines = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    assert lines[0].split()[:3] == ["call", "dir", "caller"]
    assert len(lines) == 3
    assert "abandoned" in lines[1] and "1001>1003(blind)" in lines[2]


def test_replay_of_a_missing_file_fails_with_a_message(capsys: object, tmp_path: Path) -> None:
    assert main(["replay", str(tmp_path / "nope.ami")]) == 2
    assert "no such file" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_replay_of_a_broken_jsonl_names_the_line(capsys: object, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_t": 0, "banner": "x"}\n{"_t": 5, "fields": [["Event"]]}\n')
    assert main(["replay", str(bad)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_bad_configuration_names_the_key_and_hides_the_secret(tmp_path: Path) -> None:
    config = tmp_path / "ctihub.toml"
    config.write_text('[ami]\nport = "fifty"\nsecret = "hunter2"\n')
    result = subprocess.run(
        [sys.executable, "-m", "ctihub.cli", "-c", str(config), "check-config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "ami.port" in result.stderr and "CTIHUB_AMI__PORT" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_import_then_export_customers_through_the_command_line(
    tmp_path: Path, capsys: object, monkeypatch: object
) -> None:
    monkeypatch.setenv("CTIHUB_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3")  # type: ignore[attr-defined]
    source = tmp_path / "customers.csv"
    source.write_text(
        "\ufeffref,name,phones,vip\n"
        "c1,مریم حسینی,0912 123 4567,yes\n"
        "c2,Ali Karimi,mobile:+98 935 111 2233; work:021-8877-6655,no\n"
        "c3,,0912 000 0000,no\n",
        encoding="utf-8",
    )
    assert main(["db", "upgrade"]) == 0
    assert main(["import", "customers", str(source)]) == 1  # one bad row: reported, not fatal
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    assert "line 4" in captured.err and "name" in captured.err
    assert "2 of 3 customers rows imported" in captured.out

    exported = tmp_path / "out.csv"
    assert main(["export", "customers", str(exported)]) == 0
    text = exported.read_text(encoding="utf-8-sig")
    assert "مریم حسینی" in text and "Ali Karimi" in text


def test_strict_import_of_a_file_with_a_bad_row_imports_nothing(
    tmp_path: Path, capsys: object, monkeypatch: object
) -> None:
    monkeypatch.setenv("CTIHUB_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3")  # type: ignore[attr-defined]
    source = tmp_path / "customers.csv"
    source.write_text("ref,name,phones\nc1,Reza,09121234567\nc2,Sara,not-a-number\n")
    assert main(["import", "customers", str(source)]) == 2
    assert "ctihub db upgrade" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert main(["db", "upgrade"]) == 0
    assert main(["import", "customers", str(source), "--strict"]) == 1
    assert "0 of 2 customers rows imported" in capsys.readouterr().out  # type: ignore[attr-defined]


def test_replay_of_a_trace_that_stops_mid_call_ends_the_call_as_a_lost_link(
    capsys: object,
) -> None:
    assert main(["replay", str(FIXTURES / "pbx_killed_mid_call.jsonl")]) == 0
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    lines = captured.out.splitlines()
    assert len(lines) == 3 and "answered*" in lines[1]
    assert lines[2].startswith("* ended by a lost link")
    assert "call 1796162013.14 was still up" in captured.err


def test_report_of_logged_calls_in_json_csv_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/crm.sqlite3"
    monkeypatch.setenv("CTIHUB_DATABASE__URL", url)
    monkeypatch.setenv("CTIHUB_FIGURES__TIMEZONE", "Asia/Tehran")
    assert main(["db", "upgrade"]) == 0
    # 2026-11-23 23:30 UTC is 03:00 on the 24th in Tehran: that call belongs to the 24th.
    rows = [
        ("a", "2026-11-23 08:00:00", "support", "1001", "answered", 10, 100),
        ("b", "2026-11-23 09:00:00", "support", None, "abandoned", 40, None),
        ("c", "2026-11-23 09:30:00", "support", None, "abandoned", 2, None),
        ("d", "2026-11-23 23:30:00", "support", "1002", "answered", 30, 50),
    ]
    with sqlite3.connect(tmp_path / "crm.sqlite3") as db:
        db.executemany(
            "INSERT INTO call_records (call_id, direction, started_at, queue, agent, disposition,"
            " wait_seconds, talk_seconds, transfer_count, details, written_at)"
            " VALUES (?, 'inbound', ?, ?, ?, ?, ?, ?, 0, '{}', '2026-11-25 00:00:00')",
            rows,
        )
    capsys.readouterr()
    args = ["report", "queues", "--from", "2026-11-23", "--to", "2026-11-23"]
    assert main([*args, "--format", "json"]) == 0
    [row] = json.loads(capsys.readouterr().out)["rows"]
    assert (row["queue"], row["offered"], row["answered"], row["abandoned"]) == ("support", 2, 1, 1)
    assert (row["short_abandoned"], row["service_level_pct"], row["asa_s"]) == (1, 50.0, 10.0)
    assert row["aht_s"] == 100.0
    days = ["--from", "2026-11-23", "--to", "2026-11-24"]
    assert main(["report", "calls", *days, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("day,calls,offered,answered")
    assert [line.split(",")[:3] for line in lines[1:]] == [
        ["2026-11-23", "3", "2"],
        ["2026-11-24", "1", "1"],
    ]
    assert main(["report", "agents", *days]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:3] == ["agent", "offered", "answered"]
    assert "Cisco Unified CCE" in text
    assert main(["report", "queues", "--from", "2026-11-23", "--to", "yesterday"]) == 2
    assert "--from/--to" in capsys.readouterr().err
