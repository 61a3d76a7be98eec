"""Tracker throughput: the busy trace through AmiParser + CallTracker, against a bare parse.

The real ``busy_20_calls`` transcript is repeated until the input holds at least
a million AMI messages. Each repetition has its Uniqueids, Linkedids, channel
name suffixes and bridge ids shifted, so the tracker sees new calls that start
and end, as on a PBX that has been up for a week; that is what makes the
memory figures mean something.

Three readers get the same bytes, in the 64 KiB chunks a socket would deliver,
in the same run and on one core:

- ``bare``: the plainest possible parser (split on the blank line, decode,
  split lines, partition, build a dict), the baseline;
- ``filtered``: ``AmiParser`` with the tracker's wanted events and variables,
  without the tracker, to tell parse cost from tracking cost;
- ``tracker``: that parser plus ``CallTracker.feed`` on every message it returns.

They are timed repetition by repetition in rotating order, so the load other
processes put on the machine falls on all three alike. The bytes of a
repetition are built and cut into chunks before its timed part starts.
Rates count every message in the input, including those the parser skips.

Run alone with ``python -m bench.tracker_throughput`` or with every bench via
``python -m bench``.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import resource
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from cti.ami_codec import AmiParser

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
BUSY_TRACE = REPO_ROOT / "tests" / "fixtures" / "ami" / "busy_20_calls.ami"
TARGET_MESSAGES = 1_000_000
CHUNK_BYTES = 64 * 1024
_EOM = b"\r\n\r\n"

# The three kinds of identifier a repetition must renumber. Uniqueids (and so
# Linkedids, DestUniqueids and the ids inside recording file names) are
# "<epoch>.<sequence>"; channel names end in "-<8 hex digits>" (then ";1"/";2"
# for Local channels); bridges are UUIDs. The channel pattern insists on a
# "Tech/resource-" shape so dates inside recording paths are left alone.
_IDENTIFIERS = re.compile(
    rb"(?P<bridge>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-)(?P<bridge_tail>[0-9a-f]{12})"
    rb"|(?P<uniqueid>\b[0-9]{9,11}\.)(?P<sequence>[0-9]+)\b"
    rb"|(?P<channel>[A-Za-z]+/[^\s/;,]*-)(?P<suffix>[0-9a-f]{8})(?![0-9A-Za-z])"
)


class TraceRepeater:
    """Builds the n-th repetition of a trace with every call identifier shifted by n."""

    def __init__(self, trace: bytes) -> None:
        end_of_banner = trace.find(b"\r\n")
        if not trace.startswith(b"Asterisk Call Manager/") or end_of_banner < 0:
            raise ValueError("trace does not start with an 'Asterisk Call Manager/' banner line")
        if not trace.endswith(_EOM):
            raise ValueError("trace does not end with a complete message (a blank line)")
        # One connection sends one banner; the repetitions continue its stream.
        self.banner = trace[: end_of_banner + 2]
        body = trace[end_of_banner + 2 :]
        self.messages_per_repetition = body.count(_EOM)
        self._literals: list[bytes] = []
        self._slots: list[tuple[str, int]] = []
        position = 0
        highest = {"bridge": 0, "uniqueid": 0, "channel": 0}
        for match in _IDENTIFIERS.finditer(body):
            if match["bridge"]:
                kind, head, number = "bridge", match["bridge"], int(match["bridge_tail"], 16)
            elif match["uniqueid"]:
                kind, head, number = "uniqueid", match["uniqueid"], int(match["sequence"])
            else:
                kind, head, number = "channel", match["channel"], int(match["suffix"], 16)
            self._literals.append(body[position : match.start()] + head)
            self._slots.append((kind, number))
            highest[kind] = max(highest[kind], number)
            position = match.end()
        self._tail = body[position:]
        # Shifting by more than the largest number seen keeps repetitions disjoint.
        self._strides = {kind: top + 1 for kind, top in highest.items()}
        self.identifiers_rewritten = len(self._slots)

    def repetition(self, index: int) -> bytes:
        """The trace body (no banner) with identifiers shifted for repetition ``index``."""
        shift_uniqueid = index * self._strides["uniqueid"]
        shift_channel = index * self._strides["channel"]
        shift_bridge = index * self._strides["bridge"]
        parts: list[bytes] = []
        for literal, (kind, number) in zip(self._literals, self._slots, strict=True):
            parts.append(literal)
            if kind == "uniqueid":
                parts.append(b"%d" % (number + shift_uniqueid))
            elif kind == "channel":
                parts.append(b"%08x" % ((number + shift_channel) & 0xFFFFFFFF))
            else:
                parts.append(b"%012x" % ((number + shift_bridge) & 0xFFFFFFFFFFFF))
        parts.append(self._tail)
        return b"".join(parts)


class BareParser:
    """The baseline: the least a parser can do to turn AMI bytes into header dicts."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[dict[str, str]]:
        """Consume bytes; return every message they complete."""
        blocks = (self._rest + data).split(_EOM)
        self._rest = blocks.pop()
        out = []
        for block in blocks:
            message = {}
            for line in block.decode("utf-8", "replace").split("\r\n"):
                name, _, value = line.partition(": ")
                message[name] = value
            out.append(message)
        return out


@dataclass
class _Lane:
    """One reader under test: its accumulated time and what it produced."""

    name: str
    feed_repetition: Callable[[list[bytes], list[float]], int]
    seconds: float = 0.0
    produced: int = 0


@dataclass
class MemorySample:
    """The tracker's size after a given number of messages."""

    messages: int
    calls_ended: int
    rss_mb: float | None
    allocated_blocks: int
    live_containers: dict[str, int] = field(default_factory=dict)


def socket_chunks(
    repeater: TraceRepeater, repetitions: int, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[int, list[bytes]]]:
    """Yield, per repetition, its bytes cut as a socket would (chunks cross repetitions)."""
    carry = repeater.banner
    for index in range(repetitions):
        data = carry + repeater.repetition(index)
        cut = len(data) - len(data) % chunk_bytes
        if index == repetitions - 1:
            cut = len(data)
        chunks = [data[start : start + chunk_bytes] for start in range(0, cut, chunk_bytes)]
        carry = data[cut:]
        yield index, chunks


def current_rss_mb() -> float | None:
    """Resident set size now (Linux /proc); None where that file does not exist."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux, B on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def live_containers(tracker: object) -> dict[str, int]:
    """Sizes of the tracker's public dict/list/set/deque attributes: its live state, by name.

    Private containers (handler tables, configuration sets) do not grow with
    traffic; where a tracker has no public container, every one is shown.
    """
    names = list(getattr(tracker, "__dict__", {}))
    for klass in type(tracker).__mro__:
        names.extend(getattr(klass, "__slots__", ()))
    sizes: dict[str, int] = {}
    for name in dict.fromkeys(names):
        value = getattr(tracker, name, None)
        if isinstance(value, dict | list | set | deque):
            sizes[name] = len(value)
    public = {name: size for name, size in sizes.items() if not name.startswith("_")}
    return public or sizes


def calls_in_trace(trace_path: Path) -> int | None:
    """How many calls the trace holds, from its hand-made .expected.jsonl (None if absent)."""
    expected = trace_path.with_suffix(".expected.jsonl")
    if not expected.exists():
        return None
    with open(expected, encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip())


def trace_span_seconds(times_path: Path) -> float:
    """Seconds from the connection's start to the trace's last message (its .jsonl twin)."""
    last = 0.0
    with open(times_path, encoding="utf-8") as lines:
        for line in lines:
            last = max(last, json.loads(line).get("_t", 0) / 1000)
    return last


def run(
    trace_path: Path = BUSY_TRACE,
    target_messages: int = TARGET_MESSAGES,
    chunk_bytes: int = CHUNK_BYTES,
) -> dict[str, Any]:
    """Run the benchmark and return its figures (the keys it adds to bench/results.json)."""
    from cti.tracker import CallTracker  # the bench measures it; fail loudly if absent

    repeater = TraceRepeater(trace_path.read_bytes())
    repetitions = -(-target_messages // repeater.messages_per_repetition)
    total_messages = repetitions * repeater.messages_per_repetition
    span = trace_span_seconds(trace_path.with_suffix(".jsonl")) + 5.0
    log.info(
        "tracker bench repetitions=%d messages=%d identifiers_per_repetition=%d",
        repetitions,
        total_messages,
        repeater.identifiers_rewritten,
    )

    bare = BareParser()
    filtered = AmiParser(
        wanted_events=CallTracker.WANTED_EVENTS,
        wanted_variables=CallTracker().wanted_variables,
    )
    tracker = CallTracker()
    tracked = AmiParser(
        wanted_events=CallTracker.WANTED_EVENTS, wanted_variables=tracker.wanted_variables
    )
    domain_events: Counter[str] = Counter()

    def feed_bare(chunks: list[bytes], _times: list[float]) -> int:
        count = 0
        for chunk in chunks:
            count += len(bare.feed(chunk))
        return count

    def feed_filtered(chunks: list[bytes], _times: list[float]) -> int:
        count = 0
        for chunk in chunks:
            count += len(filtered.feed(chunk))
        return count

    def feed_tracker(chunks: list[bytes], times: list[float]) -> int:
        count = 0
        tracker_feed = tracker.feed
        for chunk, at in zip(chunks, times, strict=True):
            for message in tracked.feed(chunk):
                for event in tracker_feed(message, at):
                    domain_events[type(event).__name__] += 1
                count += 1
        # The socket adapter sweeps stale channels on a timer; once per repetition here.
        for event in tracker.expire(times[-1] if times else 0.0):
            domain_events[type(event).__name__] += 1
        return count

    lanes = [
        _Lane("bare", feed_bare),
        _Lane("filtered", feed_filtered),
        _Lane("tracker", feed_tracker),
    ]
    checkpoints = {max(1, repetitions * k // 4) - 1 for k in (1, 2, 4)}
    samples: list[MemorySample] = []
    rss_before = current_rss_mb()
    clock = time.perf_counter
    started = clock()
    for index, chunks in socket_chunks(repeater, repetitions, chunk_bytes):
        # Each chunk is stamped with the time its first byte would arrive, as a socket
        # adapter would stamp it; repetitions follow one another like busy hours.
        offsets = [0, *accumulate(len(chunk) for chunk in chunks)]
        whole = offsets[-1] or 1
        times = [index * span + span * offset / whole for offset in offsets[:-1]]
        for turn in range(len(lanes)):
            lane = lanes[(index + turn) % len(lanes)]
            begin = clock()
            lane.produced += lane.feed_repetition(chunks, times)
            lane.seconds += clock() - begin
        if index in checkpoints:
            gc.collect()  # outside the timed parts: count what is live, not what awaits collection
            samples.append(
                MemorySample(
                    messages=(index + 1) * repeater.messages_per_repetition,
                    calls_ended=domain_events["CallEnded"],
                    rss_mb=current_rss_mb(),
                    allocated_blocks=sys.getallocatedblocks(),
                    live_containers=live_containers(tracker),
                )
            )
    wall_seconds = clock() - started
    tracked.feed_eof()
    gc.collect()

    by_name = {lane.name: lane for lane in lanes}
    if by_name["bare"].produced != total_messages:
        raise RuntimeError(
            f"bare parser returned {by_name['bare'].produced} messages, "
            f"expected {total_messages}: the repeated input is damaged"
        )
    if tracked.errors or tracked.messages + tracked.skipped != total_messages:
        raise RuntimeError(
            f"AmiParser saw errors={tracked.errors} messages={tracked.messages} "
            f"skipped={tracked.skipped}, expected {total_messages} messages without errors"
        )
    raw_rate = total_messages / by_name["bare"].seconds
    filtered_rate = total_messages / by_name["filtered"].seconds
    tracker_rate = total_messages / by_name["tracker"].seconds
    quarter, half, full = samples[0], samples[len(samples) // 2], samples[-1]
    figures: dict[str, Any] = {
        "tracker_events_per_s": round(tracker_rate),
        "raw_parse_events_per_s": round(raw_rate),
        "tracker_vs_raw_ratio": round(tracker_rate / raw_rate, 3),
        "tracker_peak_rss_mb": round(peak_rss_mb(), 1),
        "tracker_filtered_parse_events_per_s": round(filtered_rate),
        "tracker_share_of_filtered_parse_ratio": round(tracker_rate / filtered_rate, 3),
        "tracker_bench_messages": total_messages,
        "tracker_bench_messages_kept_by_filter": tracked.messages,
        "tracker_bench_repetitions": repetitions,
        "tracker_calls_ended": domain_events["CallEnded"],
        "tracker_calls_expected": _times(calls_in_trace(trace_path), repetitions),
        "tracker_domain_events": sum(domain_events.values()),
        "tracker_rss_mb_before": _round(rss_before),
        "tracker_rss_mb_at_quarter": _round(quarter.rss_mb),
        "tracker_rss_mb_at_half": _round(half.rss_mb),
        "tracker_rss_mb_at_end": _round(full.rss_mb),
        "tracker_py_blocks_at_quarter": quarter.allocated_blocks,
        "tracker_py_blocks_at_half": half.allocated_blocks,
        "tracker_py_blocks_at_end": full.allocated_blocks,
        "tracker_live_state_at_quarter": quarter.live_containers,
        "tracker_live_state_at_half": half.live_containers,
        "tracker_live_state_at_end": full.live_containers,
        "tracker_bench_wall_s": round(wall_seconds, 1),
    }
    return figures


def _times(count: int | None, repetitions: int) -> int | None:
    return None if count is None else count * repetitions


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> None:
    """Run this bench alone: print its figures and merge them into bench/results.json."""
    from bench import RESULTS_PATH, merge_results, print_figures

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    figures = run()
    print_figures({"tracker_throughput": figures})
    merge_results(RESULTS_PATH, figures)


if __name__ == "__main__":
    main()
