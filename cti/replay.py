"""Replay recorded AMI transcripts through the tracker.

Two input forms, as in ``tests/fixtures/ami/``: ``.ami`` files hold the raw
bytes one AMI connection received (no times; the PBX's own figures are used),
and ``.jsonl`` files hold one message a line with ``_t``, the milliseconds
since the connection opened at which it arrived.

A replay runs as the daemon would: the connection's resync lists (answers to
``CoreShowChannels``, ``QueueStatus``, ``QueueSummary``) settle the calls in
progress once all three are complete, and a transcript that stops with calls
still up is a lost link: those calls end at the last event seen, marked
``reconciled``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cti.ami_codec import AmiParser, Message
from cti.events import CallEnded, Event
from cti.settings import TrackerConfig
from cti.tracker import CallTracker

_CHUNK = 1 << 16
_RESYNC_LISTS_DONE = frozenset(
    {"CoreShowChannelsComplete", "QueueStatusComplete", "QueueSummaryComplete"}
)


class TranscriptError(ValueError):
    """A transcript file cannot be read; the message says where and why."""


def read_transcript(path: str | Path) -> Iterator[tuple[Message, float | None]]:
    """Messages of a transcript with their receive time in seconds (None for ``.ami``)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        yield from _read_jsonl(path)
    else:
        yield from _read_raw(path)


def _read_raw(path: Path) -> Iterator[tuple[Message, float | None]]:
    parser = AmiParser()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            for message in parser.feed(chunk):
                yield message, None
    parser.feed_eof()


def _read_jsonl(path: Path) -> Iterator[tuple[Message, float | None]]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TranscriptError(f"{path}:{number}: not JSON: {exc.msg}") from None
            fields = record.get("fields")
            if fields is None:
                continue  # the banner line
            try:
                message: Message = {}
                for name, value in fields:
                    if name in message:
                        message[name] += "\n" + value
                    else:
                        message[name] = value
                at = float(record["_t"]) / 1000.0
            except (KeyError, TypeError, ValueError) as exc:
                raise TranscriptError(
                    f"{path}:{number}: expected {{'_t': ms, 'fields': [[name, value], ...]}}: {exc}"
                ) from None
            yield message, at


def replay(
    pairs: Iterable[tuple[Message, float | None]],
    config: TrackerConfig | None = None,
    tracker: CallTracker | None = None,
) -> list[CallEnded]:
    """Every call the messages finish, in the order they finished (lost-link ends last)."""
    events = replay_events(pairs, config, tracker)
    return [e for e in events if isinstance(e, CallEnded)]


def replay_events(
    pairs: Iterable[tuple[Message, float | None]],
    config: TrackerConfig | None = None,
    tracker: CallTracker | None = None,
) -> list[Event]:
    """Every domain event the messages cause, in order, as the daemon would see them."""
    tracker = tracker or CallTracker(config)
    out: list[Event] = []
    tracker.begin_resync()
    lists_done: set[str] = set()
    resynced = False
    for message, at in pairs:
        out.extend(tracker.feed(message, at))
        name = message.get("Event")
        if not resynced and name in _RESYNC_LISTS_DONE:
            lists_done.add(name)
            if lists_done == _RESYNC_LISTS_DONE:
                out.extend(tracker.end_resync(at))
                resynced = True
    out.extend(tracker.finish())
    return out


def format_text(calls: list[CallEnded]) -> str:
    """A readable table of call summaries."""
    headers = [
        "call",
        "dir",
        "caller",
        "dialed",
        "queue",
        "agent",
        "rung",
        "disposition",
        "wait",
        "talk",
        "transfers",
        "ivr",
        "recording",
    ]
    rows = []
    for call in calls:
        s = call.summary()
        rows.append(
            [
                s["call_id"],
                s["direction"],
                s["caller"] or "-",
                s["dialed"] or "-",
                s["queue"] or "-",
                s["agent"] or "-",
                ",".join(s["agents_rung"]) or "-",
                s["disposition"] + ("*" if call.reconciled else ""),
                "-" if s["wait_seconds"] is None else str(s["wait_seconds"]),
                "-" if s["talk_seconds"] is None else str(s["talk_seconds"]),
                ",".join(f"{t['from']}>{t['to']}({t['kind']})" for t in s["transfers"]) or "-",
                s["ivr_input"] or "-",
                Path(s["recording"]).name if s["recording"] else "-",
            ]
        )
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if any(call.reconciled for call in calls):
        lines.append("* ended by a lost link or a resync: at the last event seen")
    return "\n".join(line.rstrip() for line in lines)


def format_jsonl(calls: list[CallEnded]) -> str:
    return "\n".join(json.dumps(c.summary(), ensure_ascii=False) for c in calls)
