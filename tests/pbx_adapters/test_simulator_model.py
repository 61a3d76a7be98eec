"""The call model on virtual time: linkage, queue behaviour, random traffic, reproducibility."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import cti.replay as replay
from pbx_adapters.simulator import (
    AgentSpec,
    CallPlan,
    DidSpec,
    PbxModel,
    PbxSpec,
    QueueSpec,
    Scenario,
    ScenarioError,
    TrafficSpec,
    actions,
    lab_pbx,
    load_scenario,
    parse_scenario,
    prepare,
    run_virtual,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "pbx_adapters" / "simulator" / "scenarios"


def _events(stream: list[tuple[float, list[tuple[str, str]]]], name: str) -> list[dict[str, str]]:
    return [dict(f) for _, f in stream if dict(f).get("Event") == name]


def _run(model: PbxModel) -> list[tuple[float, list[tuple[str, str]]]]:
    out: list[tuple[float, list[tuple[str, str]]]] = []
    model.add_listener(lambda at, fields: out.append((at, fields)))
    return out


def test_every_channel_of_a_call_shares_the_first_channels_uniqueid_as_linkedid() -> None:
    stream = run_virtual(load_scenario(SCENARIOS / "blind_transfer.toml"))
    created = _events(stream, "Newchannel")
    assert len(created) == 6  # caller pair, 1001's pair, 1003's pair
    first = created[0]["Uniqueid"]
    assert {c["Linkedid"] for c in created} == {first}
    # Uniqueids are <epoch>.<seq> with one global counter.
    seqs = [int(c["Uniqueid"].split(".")[1]) for c in created]
    assert seqs == list(range(6))
    # Local ;1/;2 halves come in pairs with consecutive Uniqueids, tied by LocalBridge.
    for one, two in zip(created[::2], created[1::2], strict=True):
        assert one["Channel"].endswith(";1") and two["Channel"].endswith(";2")
        assert one["Channel"][:-2] == two["Channel"][:-2]
    bridges = _events(stream, "LocalBridge")
    assert [b["LocalOneChannel"] for b in bridges] == [c["Channel"] for c in created[::2]]


def test_same_scenario_and_seed_give_the_same_event_stream() -> None:
    def demo(seed: int) -> Scenario:
        scenario = load_scenario(SCENARIOS / "demo.toml")
        assert scenario.traffic is not None
        scenario.traffic.duration = 300.0
        scenario.pbx.start_epoch = 1795392474.0  # else ids follow the wall clock
        scenario.pbx.seed = seed
        return scenario

    first = run_virtual(demo(42))
    assert len(_events(first, "QueueCallerJoin")) >= 5
    assert run_virtual(demo(42)) == first
    assert run_virtual(demo(43)) != first


def test_random_traffic_places_about_rate_times_duration_calls_and_ends_them_all() -> None:
    pbx = PbxSpec(
        queues=[QueueSpec("support", timeout=10.0, retry=1.0)],
        dids=[DidSpec("2188000000", "support")],
        agents=[AgentSpec(str(2001 + i), f"Agent {i}", ["support"]) for i in range(10)],
        start_epoch=1795392474.0,
        seed=5,
        emit_noise_events=False,
    )
    traffic = TrafficSpec(calls_per_second=2.0, duration=100.0, talk_mean=3.0, patience_mean=20.0)
    model = PbxModel(pbx)
    out = _run(model)
    placed = prepare(model, Scenario(pbx, traffic=traffic))
    model.run_all()
    assert 150 <= placed <= 250  # Poisson, mean 200
    assert model.calls_started == model.calls_ended == placed
    assert not model.channels  # every channel hung up
    joins = _events(out, "QueueCallerJoin")
    connects = _events(out, "AgentConnect")
    abandons = _events(out, "QueueCallerAbandon")
    assert len(joins) == placed
    assert len(connects) + len(abandons) == placed
    assert len(connects) > len(abandons)
    hangups = Counter(e["Uniqueid"] for e in _events(out, "Hangup"))
    assert set(hangups.values()) == {1}  # no channel hangs up twice


def test_noise_events_can_be_turned_off_without_losing_the_tracker_events() -> None:
    noisy = load_scenario(SCENARIOS / "inbound_answered.toml")
    quiet = load_scenario(SCENARIOS / "inbound_answered.toml")
    quiet.pbx.emit_noise_events = False
    loud_names = Counter(dict(f)["Event"] for _, f in run_virtual(noisy))
    quiet_stream = run_virtual(quiet)
    quiet_names = Counter(dict(f)["Event"] for _, f in quiet_stream)
    assert loud_names["Newexten"] > 0 and loud_names["DeviceStateChange"] > 0
    assert quiet_names["Newexten"] == quiet_names["DeviceStateChange"] == 0
    # The recording name still arrives as a VarSet when noise is off.
    variables = [e["Variable"] for e in _events(quiet_stream, "VarSet")]
    assert "MIXMONITOR_FILENAME" in variables
    for name in ("AgentConnect", "AgentComplete", "QueueCallerJoin", "BridgeEnter", "Hangup"):
        assert quiet_names[name] == loud_names[name] > 0


def test_ringall_rings_every_free_member_and_cancels_the_others_on_answer() -> None:
    spec = lab_pbx(start_epoch=1795392474.0)
    spec.emit_noise_events = False
    spec.agents[0].answer_delay = 3.0  # 1001 slow
    spec.agents[2].answer_delay = 1.0  # 1003 fast
    model = PbxModel(spec)
    out = _run(model)
    model.place_inbound_call(CallPlan("+982188776655", "2188000002", talk=2.0))
    model.run_all()
    called = [e["MemberName"] for e in _events(out, "AgentCalled")]
    assert sorted(called) == ["Ali Rezaei", "Reza Karimi"]  # both sales members at once
    ends = [
        (e["DestChannel"].split("@")[0], e["DialStatus"])
        for e in _events(out, "DialEnd")
        if "Channel" in e
    ]
    assert ("Local/1003", "ANSWER") in ends
    assert ("Local/1001", "CANCEL") in ends
    assert [e["MemberName"] for e in _events(out, "AgentConnect")] == ["Reza Karimi"]
    assert not _events(out, "AgentRingNoAnswer")


def test_device_members_and_trunk_callers_use_single_channels() -> None:
    spec = PbxSpec(
        queues=[QueueSpec("support")],
        dids=[DidSpec("2188000000", "support", record=False)],
        agents=[AgentSpec("1001", "Ali Rezaei", ["support"], interface="PJSIP/1001")],
        inbound_style="trunk",
        start_epoch=1795392474.0,
        emit_noise_events=False,
    )
    model = PbxModel(spec)
    out = _run(model)
    model.place_inbound_call(CallPlan("+982188776655", "2188000000", talk=3.0))
    model.run_all()
    names = [e["Channel"] for e in _events(out, "Newchannel")]
    assert names == ["PJSIP/provider-00000000", "PJSIP/1001-00000001"]
    assert not _events(out, "LocalBridge")
    called = _events(out, "AgentCalled")[0]
    assert called["Interface"] == "PJSIP/1001"
    assert called["DestChannel"] == "PJSIP/1001-00000001"
    assert called["Channel"] == "PJSIP/provider-00000000"
    complete = _events(out, "AgentComplete")[0]
    assert (complete["TalkTime"], complete["Reason"]) == ("3", "agent")


def test_hold_emits_hold_and_unhold_on_the_agents_leg() -> None:
    spec = lab_pbx(start_epoch=1795392474.0)
    spec.emit_noise_events = False
    model = PbxModel(spec)
    out = _run(model)
    model.place_inbound_call(
        CallPlan("+982188776655", "2188000000", talk=10.0, hold_after=2.0, hold_for=3.0)
    )
    model.run_all()
    held = [(at, dict(f)) for at, f in out if dict(f)["Event"] in ("Hold", "Unhold")]
    assert [e["Event"] for _, e in held] == ["Hold", "Unhold"]
    assert held[1][0] - held[0][0] == pytest.approx(3.0)
    assert all(e["Channel"].startswith("Local/1001@from-queue-") for _, e in held)
    assert held[0][1]["MusicClass"] == "default"


def test_ami_hangup_of_the_agent_leg_ends_the_call_as_agent_hangup() -> None:
    spec = lab_pbx(start_epoch=1795392474.0)
    spec.emit_noise_events = False
    model = PbxModel(spec)
    out = _run(model)
    model.place_inbound_call(CallPlan("+982188776655", "2188000000", talk=600.0))
    model.run_until(5.0)
    connect = _events(out, "AgentConnect")[0]
    reply = actions.perform(
        model, {"Action": "Hangup", "Channel": connect["DestChannel"], "ActionID": "h9"}
    )
    assert reply == [[("Response", "Success"), ("ActionID", "h9"), ("Message", "Channel Hungup")]]
    complete = _events(out, "AgentComplete")[0]
    assert complete["Reason"] == "agent"
    # Answered at 1.5 s (0.5 s dialplan + 1 s ring), hung up at 5.0 s: 3.5 s, reported as 3.
    assert complete["TalkTime"] == "3"
    assert not model.calls


def test_queue_pause_reports_every_queue_of_the_interface() -> None:
    model = PbxModel(lab_pbx(start_epoch=1795392474.0))
    out = _run(model)
    reply = actions.perform(
        model,
        {
            "Action": "QueuePause",
            "Interface": "Local/1001@from-queue/n",
            "Paused": "true",
            "Reason": "lunch",
        },
    )
    assert reply is not None and dict(reply[0])["Message"] == "Interface paused successfully"
    pauses = _events(out, "QueueMemberPause")
    assert [(p["Queue"], p["Paused"], p["PausedReason"]) for p in pauses] == [
        ("support", "1", "lunch"),
        ("sales", "1", "lunch"),
    ]
    missing = actions.perform(
        model, {"Action": "QueuePause", "Interface": "PJSIP/9999", "Paused": "true"}
    )
    assert missing is not None and dict(missing[0])["Message"] == "Interface not found"


def test_scenario_errors_name_the_entry_and_the_key() -> None:
    with pytest.raises(ScenarioError, match=r"\[\[calls\]\] #1: unknown key\(s\) colour"):
        parse_scenario(
            {"pbx": {"preset": "lab"}, "calls": [{"caller": "1", "did": "2", "colour": "red"}]}
        )
    with pytest.raises(ScenarioError, match="agent 1001 is in unknown queue 'nowhere'"):
        parse_scenario(
            {
                "queues": [{"name": "support"}],
                "agents": [{"extension": "1001", "name": "A", "queues": ["nowhere"]}],
            }
        )
    with pytest.raises(ScenarioError, match="preset must be 'lab'"):
        parse_scenario({"pbx": {"preset": "freepbx"}})


def test_every_example_scenario_loads_and_runs() -> None:
    for path in sorted(SCENARIOS.glob("*.toml")):
        scenario = load_scenario(path)
        if scenario.traffic is not None:
            scenario.traffic.duration = min(scenario.traffic.duration, 120.0)
        assert run_virtual(scenario), path.name


def test_a_simulated_run_written_as_jsonl_replays_like_a_fixture(tmp_path: Path) -> None:
    from pbx_adapters.simulator import write_transcript

    path = tmp_path / "run.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        count = write_transcript(run_virtual(load_scenario(SCENARIOS / "click_to_call.toml")), fh)
    assert count > 0
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"_t": 0, "banner": "Asterisk Call Manager/11.0.0"}'
    assert len(lines) == count + 1
    (ended,) = replay.replay(replay.read_transcript(path))
    summary = ended.summary()
    assert (summary["direction"], summary["caller"], summary["dialed"]) == (
        "outbound",
        "1002",
        "02177665544",
    )


def test_redirect_of_a_queued_caller_offers_the_call_to_that_agent() -> None:
    spec = lab_pbx(start_epoch=1795392474.0)
    spec.emit_noise_events = False
    model = PbxModel(spec)
    out = _run(model)
    model.place_inbound_call(CallPlan("+982188776655", "2188000000", talk=2.0, no_answer=("1001",)))
    model.run_until(2.0)  # 1001 (first in rrmemory order) is ringing and will not answer
    caller = _events(out, "QueueCallerJoin")[0]["Channel"]
    reply = actions.perform(
        model,
        {"Action": "Redirect", "Channel": caller, "Exten": "1002", "Context": "from-internal"},
    )
    assert reply is not None and dict(reply[0])["Message"] == "Redirect successful"
    model.run_all()
    assert [e["MemberName"] for e in _events(out, "AgentCalled")] == ["Ali Rezaei", "Sara Ahmadi"]
    assert [e["MemberName"] for e in _events(out, "AgentConnect")] == ["Sara Ahmadi"]
    assert not _events(out, "AgentRingNoAnswer")


def test_ami_blind_transfer_status_and_setvar_act_on_live_channels() -> None:
    spec = lab_pbx(start_epoch=1795392474.0)
    spec.emit_noise_events = False
    model = PbxModel(spec)
    out = _run(model)
    model.place_inbound_call(CallPlan("+982188776655", "2188000000", talk=20.0))
    model.run_until(3.0)
    connect = _events(out, "AgentConnect")[0]
    agent_leg, caller_leg = connect["DestChannel"], connect["Channel"]

    status = actions.perform(model, {"Action": "Status", "Channel": caller_leg, "ActionID": "s"})
    assert status is not None
    assert [dict(m).get("Event") for m in status] == [None, "Status", "StatusComplete"]
    assert dict(status[1])["BridgeID"] == _events(out, "BridgeCreate")[0]["BridgeUniqueid"]
    assert dict(status[2])["Items"] == "1"

    setvar = actions.perform(
        model,
        {"Action": "Setvar", "Channel": caller_leg, "Variable": "CTIHUB_NOTE", "Value": "vip"},
    )
    assert setvar is not None and dict(setvar[0])["Message"] == "Variable Set"
    assert _events(out, "VarSet")[-1]["Value"] == "vip"

    bad = actions.perform(model, {"Action": "BlindTransfer", "Channel": agent_leg})
    assert bad is not None and dict(bad[0])["Message"] == "No extension specified"
    done = actions.perform(
        model,
        {
            "Action": "BlindTransfer",
            "Channel": agent_leg,
            "Exten": "1003",
            "Context": "from-internal",
        },
    )
    assert done is not None and dict(done[0])["Message"] == "Transfer succeeded"
    model.run_all()
    transfer = _events(out, "BlindTransfer")[0]
    assert (transfer["TransfererChannel"], transfer["TransfereeChannel"]) == (agent_leg, caller_leg)
    assert (transfer["Extension"], transfer["Context"]) == ("1003", "from-internal")
    assert _events(out, "AgentComplete")[0]["Reason"] == "transfer"
    assert not model.calls


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("rrmemory", ["2001", "2002", "2003"]),  # the next member after the last one rung
        ("linear", ["2001", "2001", "2001"]),  # always from the top of the list
        ("fewestcalls", ["2001", "2002", "2003"]),  # whoever has taken fewest so far
        ("leastrecent", ["2001", "2002", "2003"]),  # whoever was called longest ago
    ],
)
def test_ring_strategies_pick_members_as_asterisk_does(strategy: str, expected: list[str]) -> None:
    spec = PbxSpec(
        queues=[QueueSpec("support", strategy=strategy)],  # type: ignore[arg-type]
        dids=[DidSpec("2188000000", "support", record=False)],
        agents=[AgentSpec(str(2001 + i), f"Agent {i}", ["support"]) for i in range(3)],
        start_epoch=1795392474.0,
        emit_noise_events=False,
    )
    model = PbxModel(spec)
    out = _run(model)
    for at in (0.0, 100.0, 200.0):  # one call at a time: everyone is free each time
        model.schedule(
            at, model.place_inbound_call, CallPlan("+982188776655", "2188000000", talk=5.0)
        )
    model.run_all()
    rung = [e["Interface"].split("/")[1].split("@")[0] for e in _events(out, "AgentCalled")]
    assert rung == expected


def test_click_to_call_on_a_trunk_pbx_dials_out_through_the_trunk() -> None:
    spec = lab_pbx(start_epoch=1795392474.0)
    spec.inbound_style = "trunk"
    spec.emit_noise_events = False
    spec.outbound_talk = 4.0
    model = PbxModel(spec)
    out = _run(model)
    actions.perform(
        model,
        {
            "Action": "Originate",
            "Channel": "PJSIP/1002",
            "Context": "from-internal",
            "Exten": "09121234567",
        },
    )
    model.run_all()
    assert [e["Channel"] for e in _events(out, "Newchannel")] == [
        "PJSIP/1002-00000000",
        "PJSIP/provider-00000001",
    ]
    dial = next(e for e in _events(out, "DialBegin") if "Channel" in e)
    assert (dial["Channel"], dial["DestChannel"], dial["DialString"]) == (
        "PJSIP/1002-00000000",
        "PJSIP/provider-00000001",
        "provider/09121234567",
    )
    enters = _events(out, "BridgeEnter")
    leaves = _events(out, "BridgeLeave")
    assert len(enters) == len(leaves) == 2
    assert [e["BridgeNumChannels"] for e in leaves] == ["1", "0"]
    assert not _events(out, "OriginateResponse")  # not Async: no OriginateResponse event
    assert not model.calls and not model.channels


def test_simulator_from_settings_uses_the_hubs_ami_user_and_the_overrides() -> None:
    from ctihub.settings import load_settings
    from pbx_adapters.simulator import simulator_from_settings

    settings = load_settings(
        env={
            "CTIHUB_PBX": "simulator",
            "CTIHUB_AMI__USERNAME": "hub",
            "CTIHUB_AMI__SECRET": "from-ami-section",
            "CTIHUB_AGI__PORT": "4999",
            "CTIHUB_SIMULATOR__SCENARIO": str(SCENARIOS / "demo.toml"),
            "CTIHUB_SIMULATOR__PORT": "0",
            "CTIHUB_SIMULATOR__CALLS_PER_SECOND": "2.5",
            "CTIHUB_SIMULATOR__AGENTS": "5",
            "CTIHUB_SIMULATOR__SEED": "9",
        }
    )
    simulator = simulator_from_settings(settings.simulator, settings.ami, settings.agi)
    assert (simulator.settings.username, simulator.settings.secret) == ("hub", "from-ami-section")
    assert (simulator.settings.port, simulator.settings.agi_port) == (0, 4999)
    assert simulator.scenario.traffic is not None
    assert simulator.scenario.traffic.calls_per_second == 2.5
    assert simulator.scenario.pbx.seed == 9
    assert [a.extension for a in simulator.model.agents.values()] == [
        "2001",
        "2002",
        "2003",
        "2004",
        "2005",
    ]
    assert simulator.model.agents["2001"].spec.queues == ["support", "sales"]
