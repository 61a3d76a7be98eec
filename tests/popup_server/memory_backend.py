"""In-memory CRM, PBX and user stand-ins, for tests about the server alone and the benchmark.

The product never uses them: the daemon serves the real backend (``ctihub.panel_backend``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_sync.passwords import UNMATCHABLE_HASH, verify_password
from cti.figures import CallFacts, QueueTargets, Tally, TargetBook
from cti.screenpop import CallerInfo
from popup_server.auth import User
from popup_server.ports import (
    AudioFile,
    CallRecording,
    CaseInfo,
    CrmError,
    CustomerChanges,
    DayTallies,
    HistoryQuery,
    LoggedCallSummary,
    PhonebookEntry,
    PhoneEntry,
    RecordingUnavailable,
    SavedNote,
)
from recordings.library import RecordingLibrary, RecordingUnavailableError


@dataclass(slots=True)
class MemoryCrm:
    """Customers keyed by normalised number; implements the lookup, phonebook and case desk.

    ``normalise`` turns what the PBX presents into the key used in ``by_number``
    (default: digits only, a leading national ``0`` read as Iran's ``+98``).
    """

    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    by_number: dict[str, list[int]] = field(default_factory=dict)
    pop_cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Cases in the screen pop's form (with the owner's extension), by tracking code."""
    cases: dict[int, CaseInfo] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    queue_targets: dict[str, QueueTargets] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_customer(self, customer: Mapping[str, Any], numbers: list[str]) -> int:
        """Store a customer (the pop's customer form) reachable on ``numbers``."""
        customer_id = int(customer.get("id") or next(self._ids))
        stored = {"id": customer_id, "open_cases": [], "recent_calls": [], **customer}
        stored["phones"] = [{"raw": n, "e164": normalise(n), "kind": "mobile"} for n in numbers]
        self.customers[customer_id] = stored
        for number in numbers:
            key = normalise(number)
            if key:
                self.by_number.setdefault(key, []).append(customer_id)
        for case in stored["open_cases"]:
            self.pop_cases[case["tracking_code"]] = {**case, "customer_id": customer_id}
            self.cases[case["id"]] = CaseInfo(
                id=case["id"],
                tracking_code=case["tracking_code"],
                subject=case["subject"],
                status=case["status"],
                priority=case["priority"],
                due_at=dt.datetime.fromisoformat(case["due_at"]) if case.get("due_at") else None,
                customer_id=customer_id,
            )
        return customer_id

    # CallerLookup

    async def lookup(self, number: str | None) -> CallerInfo:
        key = normalise(number)
        if key is None:
            return CallerInfo(number, None, "unknown")
        if key.isdigit() and len(key) <= 6:
            return CallerInfo(number, None, "extension")
        found = tuple(self.customers[i] for i in self.by_number.get(key, ()))
        return CallerInfo(number, key, "matched" if found else "unknown", found)

    async def case_by_code(self, code: str) -> Mapping[str, Any] | None:
        return self.pop_cases.get(code)

    # Phonebook

    async def search(self, query: str, limit: int) -> list[PhonebookEntry]:
        wanted = query.strip().lower()
        digits = "".join(ch for ch in wanted if ch.isdigit())
        out = []
        for customer in self.customers.values():
            numbers = customer["phones"]
            if str(customer.get("name", "")).lower().startswith(wanted) or (
                digits and any((p["e164"] or "").endswith(digits) for p in numbers)
            ):
                out.append(
                    PhonebookEntry(
                        customer_id=customer["id"],
                        name=str(customer.get("name")),
                        company=customer.get("company"),
                        vip=bool(customer.get("vip")),
                        do_not_call=bool(customer.get("do_not_call")),
                        numbers=tuple(PhoneEntry(p["raw"], p["e164"], p["kind"]) for p in numbers),
                    )
                )
            if len(out) >= limit:
                break
        return out

    # CustomerDesk

    def source(self) -> dict[str, Any]:
        return {"editable": True, "record_url": None}

    async def get(self, customer_id: int) -> dict[str, Any] | None:
        customer = self.customers.get(customer_id)
        if customer is None:
            return None
        return {**customer, "numbers": customer["phones"]}

    async def create(self, changes: CustomerChanges, number: str | None) -> dict[str, Any]:
        fresh = max(self.customers, default=0) + 1  # never a seeded customer's id
        customer_id = self.add_customer(
            {"id": fresh, "contract": {"state": "none"}, **changes}, [number] if number else []
        )
        found = await self.get(customer_id)
        assert found is not None
        return found

    async def add_number(self, customer_id: int, number: str) -> dict[str, Any]:
        if customer_id not in self.customers:
            raise CrmError(f"no customer with id {customer_id}")
        key = normalise(number)
        self.customers[customer_id]["phones"].append({"raw": number, "e164": key, "kind": "mobile"})
        if key:
            self.by_number.setdefault(key, []).append(customer_id)
        found = await self.get(customer_id)
        assert found is not None
        return found

    async def update(self, customer_id: int, changes: CustomerChanges) -> dict[str, Any]:
        if customer_id not in self.customers:
            raise CrmError(f"no customer with id {customer_id}")
        self.customers[customer_id].update(changes)
        found = await self.get(customer_id)
        assert found is not None
        return found

    # CaseDesk

    async def open_case(
        self, *, customer_id: int | None, subject: str, call_id: str | None, agent_user_id: int
    ) -> CaseInfo:
        if not subject.strip():
            raise CrmError("a case needs a subject")
        if customer_id is not None and customer_id not in self.customers:
            raise CrmError(f"no customer with id {customer_id}")
        case_id = next(self._ids)
        case = CaseInfo(
            id=case_id,
            tracking_code=f"{70000000 + case_id:08d}",
            subject=subject.strip(),
            status="open",
            priority="normal",
            due_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=48),
            customer_id=customer_id,
        )
        self.cases[case_id] = case
        return case

    async def find_case(self, tracking_code: str) -> CaseInfo | None:
        return next((c for c in self.cases.values() if c.tracking_code == tracking_code), None)

    async def get_case(self, case_id: int) -> CaseInfo | None:
        return self.cases.get(case_id)

    async def has_customer(self, customer_id: int) -> bool:
        return customer_id in self.customers

    async def wrap_up(
        self,
        *,
        call_id: str,
        customer_id: int | None,
        case_id: int | None,
        agent_user_id: int,
        note: str,
        disposition: str | None,
    ) -> SavedNote:
        note_id = next(self._ids)
        self.notes.append(
            {
                "id": note_id,
                "call_id": call_id,
                "customer_id": customer_id,
                "case_id": case_id,
                "author": agent_user_id,
                "body": note,
                "disposition": disposition,
            }
        )
        return SavedNote(note_id)

    # CallHistory

    async def today(
        self, extensions: tuple[str, ...], limit: int, since: dt.datetime
    ) -> list[LoggedCallSummary]:
        mine = [
            _summary(c)
            for c in self.calls
            if c.get("agent") in extensions
            and dt.datetime.fromisoformat(str(c["started_at"])) >= since
        ]
        return mine[-limit:][::-1]

    async def find(self, call_id: str, extensions: tuple[str, ...]) -> LoggedCallSummary | None:
        return next(
            (
                _summary(c)
                for c in self.calls
                if c["call_id"] == call_id and c.get("agent") in extensions
            ),
            None,
        )

    # CallSearch

    async def find_calls(self, query: HistoryQuery) -> list[dict[str, Any]]:
        """Over ``calls``: the same filters as the database, on plain dicts."""
        out = []
        for c in reversed(self.calls):
            started = dt.datetime.fromisoformat(str(c["started_at"]))
            missed = c.get("disposition") in ("missed", "abandoned")
            if started < query.since or (query.until is not None and started >= query.until):
                continue
            theirs = query.extensions is None or c.get("agent") in query.extensions
            if not theirs and not (missed and c.get("queue") in query.missed_queues):
                continue
            if query.missed_only and not missed:
                continue
            if query.queue and c.get("queue") != query.queue:
                continue
            if (
                query.text
                and query.text.lower()
                not in " ".join(
                    str(c.get(k) or "") for k in ("caller", "dialed", "customer_name")
                ).lower()
            ):
                continue
            out.append({"outcome": None, "note": None, "has_recording": False, **c})
        return out[: query.limit]

    # DayFigures

    async def day_tallies(
        self, since: dt.datetime, until: dt.datetime, book: TargetBook
    ) -> DayTallies:
        """Over ``calls`` whose ISO ``started_at`` is in ``[since, until)``, by :class:`Tally`."""
        out = DayTallies(queues={}, agents={})
        for c in self.calls:
            if not c.get("started_at"):
                continue
            if not since <= dt.datetime.fromisoformat(c["started_at"]) < until:
                continue
            facts = CallFacts(
                queue=c.get("queue"),
                agent=c.get("agent"),
                direction=str(c.get("direction", "inbound")),
                disposition=str(c.get("disposition")),
                wait_seconds=c.get("wait_seconds"),
                talk_seconds=c.get("talk_seconds"),
            )
            if facts.queue:
                out.queues.setdefault(facts.queue, Tally()).add(facts, book.of(facts.queue))
            if facts.agent:
                out.agents.setdefault(facts.agent, Tally()).add(facts, book.of(facts.queue))
        return out

    async def targets(self, default: QueueTargets) -> TargetBook:
        return TargetBook(default, self.queue_targets)


def normalise(number: str | None) -> str | None:
    """Digits with a ``+`` country code; a national ``0`` prefix read as Iran (+98)."""
    if not number:
        return None
    digits = "".join(ch for ch in number if ch.isdigit())
    if not digits:
        return None
    if number.strip().startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0"):
        return "+98" + digits[1:]
    return digits


@dataclass(slots=True)
class RecordingPbx:
    """PBX actions that are only recorded; for tests that do not need a simulator."""

    originated: list[tuple[str, str]] = field(default_factory=list)
    pauses: list[tuple[str, bool, str | None, str | None]] = field(default_factory=list)
    actions: list[tuple[str, ...]] = field(default_factory=list)

    async def originate(self, extension: str, number: str) -> None:
        self.originated.append((extension, number))

    async def queue_pause(
        self, extension: str, paused: bool, reason: str | None, queue: str | None = None
    ) -> None:
        self.pauses.append((extension, paused, reason, queue))

    async def hold(self, extension: str, call_id: str, on: bool) -> None:
        self.actions.append(("hold" if on else "resume", extension, call_id))

    async def transfer(self, extension: str, call_id: str, to: str, *, attended: bool) -> None:
        self.actions.append(("attended" if attended else "blind", extension, call_id, to))

    async def hangup(self, extension: str, call_id: str) -> None:
        self.actions.append(("hangup", extension, call_id))

    async def queue_login(self, extension: str, queue: str, member_name: str) -> None:
        self.actions.append(("queue_login", extension, queue, member_name))

    async def queue_logout(self, extension: str, queue: str) -> None:
        self.actions.append(("queue_logout", extension, queue))


@dataclass(slots=True)
class MemoryRecordings:
    """:class:`popup_server.ports.Recordings` over a dict, with real files through ``library``."""

    library: RecordingLibrary
    calls: dict[str, CallRecording] = field(default_factory=dict)

    def add(self, call_id: str, file: str, extensions: tuple[str, ...]) -> None:
        """Log ``call_id`` as recorded in ``file`` (the PBX's name) with these extensions on it."""
        self.calls[call_id] = CallRecording(call_id, file, frozenset(extensions))

    async def find(self, call_id: str) -> CallRecording | None:
        return self.calls.get(call_id)

    async def for_browser(self, recording: CallRecording, *, original: bool) -> AudioFile:
        try:
            found = await self.library.for_browser(recording.file, original=original)
        except RecordingUnavailableError as exc:
            raise RecordingUnavailable(str(exc)) from exc
        return AudioFile(found.path, found.media_type)


class InMemoryUserStore:
    """Users held in memory with scrypt hashes, for tests and the benchmark."""

    def __init__(self) -> None:
        self._users: dict[str, tuple[User, str]] = {}

    def add(self, user: User, password_hash: str) -> None:
        """Add or replace a user (``password_hash`` as ``crm_sync.passwords`` makes it)."""
        self._users[user.username.lower()] = (user, password_hash)

    async def authenticate(self, username: str, password: str) -> User | None:
        entry = self._users.get(username.lower())
        stored = entry[1] if entry else UNMATCHABLE_HASH
        # Hash even for unknown users so response time does not reveal which names exist.
        ok = await asyncio.to_thread(verify_password, password, stored)
        return entry[0] if entry and ok else None

    async def get(self, user_id: int) -> User | None:
        return next((u for u, _ in self._users.values() if u.id == user_id), None)

    def users(self) -> Iterable[User]:
        """Every user."""
        return [u for u, _ in self._users.values()]


@dataclass(slots=True)
class MemoryAudit:
    """The audit port in memory: entries kept in a list for tests to read."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> None:
        self.entries.append(
            {
                "actor": actor,
                "action": action,
                "target": target,
                "before": dict(before) if before is not None else None,
                "after": dict(after) if after is not None else None,
            }
        )


def _summary(c: dict[str, Any]) -> LoggedCallSummary:
    return LoggedCallSummary(
        call_id=c["call_id"],
        started_at=dt.datetime.fromisoformat(str(c["started_at"])),
        caller=c.get("caller"),
        customer_name=c.get("customer_name"),
        queue=c.get("queue"),
        agent=c.get("agent"),
        talk_seconds=c.get("talk_seconds"),
        disposition=str(c.get("disposition", "answered")),
        has_recording=bool(c.get("recording")),
        customer_id=c.get("customer_id"),
    )
