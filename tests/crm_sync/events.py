"""CallEnded events shaped like the real traces' summaries (tests/fixtures/ami/*.expected.jsonl)."""

from __future__ import annotations

from cti.events import CallEnded

RECORDING = (
    "/var/spool/asterisk/monitor/2026/11/23/"
    "in-2188000000-982188776655-20261123-000754-1795392474.1.wav"
)


def inbound_answered(
    call_id: str = "1795392474.0",
    caller: str | None = "+982188776655",
    variables: tuple[tuple[str, str], ...] = (),
    ivr_input: str | None = None,
    started_at: float = 1795392474.0,
) -> CallEnded:
    """The inbound_answered trace: support queue, 1001 answers after 1 s, talks 5 s."""
    return CallEnded(
        call_id=call_id,
        direction="inbound",
        caller=caller,
        caller_name=None,
        dialed="2188000000",
        queue="support",
        agent="1001",
        agents_rung=("1001",),
        disposition="answered",
        wait_seconds=1,
        talk_seconds=5,
        recording=RECORDING,
        transfers=(),
        ivr_input=ivr_input,
        variables=variables,
        hangup_cause=16,
        started_at=started_at,
        answered_at=started_at + 1,
        ended_at=started_at + 6,
    )


def click_to_call() -> CallEnded:
    """The click_to_call trace: 1002 calls 02177665544."""
    return CallEnded(
        call_id="1795392505.14",
        direction="outbound",
        caller="1002",
        caller_name=None,
        dialed="02177665544",
        queue=None,
        agent="1002",
        agents_rung=(),
        disposition="answered",
        wait_seconds=None,
        talk_seconds=4,
        recording=None,
        transfers=(),
        ivr_input=None,
        variables=(),
        hangup_cause=16,
        started_at=1795392505.0,
        answered_at=1795392507.0,
        ended_at=1795392511.0,
    )
