"""The simulator's calls have the shape of real ones: the tracker summarises both alike.

Each fixture in ``tests/fixtures/ami`` has a simulated twin in
``pbx_adapters/simulator/scenarios/<name>.toml`` (same caller, DID, queue, agents, roughly the
same timings). Both go through the tracker; the summaries must agree except
for the call id, the unique tail of the recording name, and times (±2 s).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import cti.replay as replay_module
from pbx_adapters.simulator import load_scenario, run_virtual

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ami"
SCENARIOS = ROOT / "pbx_adapters" / "simulator" / "scenarios"

TWINS = [
    "inbound_answered",
    "inbound_answered_national",
    "inbound_abandoned",
    "inbound_ringnoanswer_then_answered",
    "click_to_call",
    "blind_transfer",
    "ivr_tracking_code",
    "ivr_contract_expired",
]
TIMES = ("wait_seconds", "talk_seconds")
# in-DID-CALLER-YYYYMMDD-HHMMSS-UNIQUEID.wav: the date, time and Uniqueid differ per run.
_UNIQUE_TAIL = re.compile(r"/\d{4}/\d{2}/\d{2}/(.*)-\d{8}-\d{6}-\d+\.\d+\.wav$")


def _messages(
    stream: list[tuple[float, list[tuple[str, str]]]],
) -> list[tuple[dict[str, str], float]]:
    out = []
    for at, fields in stream:
        message: dict[str, str] = {}
        for name, value in fields:
            message[name] = message[name] + "\n" + value if name in message else value
        out.append((message, at))
    return out


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in summary.items() if k != "call_id" and k not in TIMES}
    recording = result.get("recording")
    if recording:
        match = _UNIQUE_TAIL.search(recording)
        result["recording"] = match.group(1) if match else recording
    return result


@pytest.mark.parametrize("name", TWINS)
def test_simulated_call_is_summarised_like_the_real_fixture(name: str) -> None:
    real = [
        c.summary()
        for c in replay_module.replay(replay_module.read_transcript(FIXTURES / f"{name}.jsonl"))
    ]
    simulated_stream = run_virtual(load_scenario(SCENARIOS / f"{name}.toml"))
    simulated = [c.summary() for c in replay_module.replay(_messages(simulated_stream))]

    assert len(simulated) == len(real) == 1
    assert _comparable(simulated[0]) == _comparable(real[0])
    for key in TIMES:
        if real[0][key] is None:
            assert simulated[0][key] is None, key
        else:
            assert simulated[0][key] is not None, key
            assert abs(simulated[0][key] - real[0][key]) <= 2, (
                key,
                simulated[0][key],
                real[0][key],
            )


def test_recording_name_keeps_the_issabel_pattern() -> None:
    stream = run_virtual(load_scenario(SCENARIOS / "inbound_answered.toml"))
    names = [
        dict(f)["Value"]
        for _, f in stream
        if dict(f).get("Event") == "VarSet" and dict(f).get("Variable") == "MIXMONITOR_FILENAME"
    ]
    # Written by hand from the fixture: spool/YYYY/MM/DD/in-DID-CALLER(no +)-DATE-TIME-UNIQUEID.wav
    assert len(names) == 1
    assert re.fullmatch(
        r"/var/spool/asterisk/monitor/2026/11/23/in-2188000000-982188776655-20261123-0007\d\d-"
        r"1795392474\.1\.wav",
        names[0],
    )


def test_busy_random_traffic_gives_the_tracker_one_consistent_record_per_call() -> None:
    scenario = load_scenario(SCENARIOS / "demo.toml")
    assert scenario.traffic is not None
    scenario.pbx.start_epoch = 1795392474.0
    scenario.traffic.calls_per_second = 0.5  # far more than three agents can take
    scenario.traffic.duration = 600.0
    stream = run_virtual(scenario)
    names = [dict(f)["Event"] for _, f in stream]
    placed = {dict(f)["Linkedid"] for _, f in stream if dict(f)["Event"] == "Newchannel"}

    ended = [c.summary() for c in replay_module.replay(_messages(stream))]

    assert sorted(s["call_id"] for s in ended) == sorted(placed)  # each call ended exactly once
    by_disposition = {
        d: [s for s in ended if s["disposition"] == d] for d in ("answered", "abandoned", "ivr")
    }
    # Counted from the PBX's own events, independently of the tracker:
    assert len(by_disposition["answered"]) == names.count("AgentConnect")
    assert len(by_disposition["abandoned"]) == names.count("QueueCallerAbandon") > 0
    assert len(by_disposition["ivr"]) > 0
    assert names.count("BlindTransfer") == sum(len(s["transfers"]) for s in ended) > 0
    assert all(s["queue"] in ("support", "sales") for s in ended if s["disposition"] != "ivr")
    assert all(s["agent"] in ("1001", "1002", "1003") for s in by_disposition["answered"])
