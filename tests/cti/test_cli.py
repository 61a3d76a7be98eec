"""The ``ctihub`` command line, run as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cti.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"


def test_replay_jsonl_prints_exactly_the_summary_keys(capsys: object) -> None:
    assert main(["replay", "--format", "jsonl", str(FIXTURES / "click_to_call.jsonl")]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    (line,) = out.splitlines()
    row = json.loads(line)
    assert list(row) == [
        "call_id", "direction", "caller", "dialed", "queue", "agent", "agents_rung",
        "disposition", "wait_seconds", "talk_seconds", "recording", "transfers", "ivr_input",
    ]
    assert (row["direction"], row["caller"], row["dialed"], row["agent"]) == (
        "outbound", "1002", "02177665544", "1002"
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
        [sys.executable, "-m", "cti.cli", "-c", str(config), "check-config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "ami.port" in result.stderr and "CTIHUB_AMI__PORT" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
