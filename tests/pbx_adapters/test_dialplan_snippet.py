"""ctihub/examples/extensions_ctihub.conf, walked by a small dialplan interpreter, per caller.

Only what the snippet uses is interpreted (Set, Goto(If), Gosub(If), Return, AGI,
Dial, Queue, MixMonitor, Hangup; ${VAR}, ${IF()}, ${FILTER()}, ${STRFTIME()},
${EXTENSION_STATE()}, $[a = b] and $[a != b]); anything else fails the test, so the
snippet cannot grow an application this walk does not understand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pbx_adapters import ivr

SNIPPET = Path(__file__).resolve().parents[2] / "ctihub" / "examples" / "extensions_ctihub.conf"
Dialplan = dict[str, dict[str, list[tuple[str | None, str, str]]]]


def parse(text: str) -> Dialplan:
    """context -> extension -> [(label, application, arguments)] in priority order."""
    plan: Dialplan = {}
    context = exten = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            context = line.strip("[]")
            plan[context] = {}
            continue
        kind, _, rest = line.partition("=>")
        kind, rest = kind.strip(), rest.strip()
        if kind == "exten":
            exten, priority, step = rest.split(",", 2)
            assert priority == "1", f"{context},{exten} must start at priority 1"
            plan[context][exten] = []
        else:
            assert kind == "same", line
            priority, _, step = rest.partition(",")
            assert priority.startswith("n"), line
        label = priority[2:-1] if priority.startswith("n(") else None
        app, _, args = step.partition("(")
        assert args.endswith(")"), step
        plan[context][exten].append((label, app, args[:-1]))
    return plan


@dataclass
class Call:
    """One caller walked through the dialplan: what the PBX would have done."""

    variables: dict[str, str]
    agi: Callable[[str, dict[str, str]], None]
    free: set[str] = field(default_factory=set)
    did: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    def value(self, text: str) -> str:
        while True:
            inner = re.search(r"\$\{((?:[^${}]|\$(?!\{))*)\}", text)
            if inner is None:
                return self._expressions(text)
            text = text[: inner.start()] + self._function(inner.group(1)) + text[inner.end() :]

    def _expressions(self, text: str) -> str:
        def evaluate(m: re.Match[str]) -> str:
            left, op, right = re.fullmatch(r'\s*"(.*)"\s*(!?=)\s*"(.*)"\s*', m.group(1)).groups()  # type: ignore[union-attr]
            return "1" if (left == right) == (op == "=") else "0"

        return re.sub(r"\$\[([^\[\]]*)\]", evaluate, text)

    def _function(self, body: str) -> str:
        body = self._expressions(body)
        name, paren, args = body.partition("(")
        if not paren:
            return self.variables.get(name, "")
        args = args[:-1]
        if name == "IF":
            condition, _, branches = args.partition("?")
            yes, _, no = branches.partition(":")
            return yes if condition.strip() not in ("", "0") else no
        if name == "FILTER":
            allowed, _, value = args.partition(",")
            assert allowed == "0-9"
            return re.sub(r"[^0-9]", "", value)
        if name == "STRFTIME":
            return "2026/12/01" if "%Y/%m/%d" in args else "20261201-215323"
        if name == "EXTENSION_STATE":
            return "NOT_INUSE" if args.partition("@")[0] in self.free else "INUSE"
        if name == "CALLERID":
            return self.variables["CALLERID(num)"]
        raise AssertionError(f"function {name} is not understood by this walk")

    def run(self, plan: Dialplan, context: str, exten: str = "s", index: int = 0) -> None:
        stack: list[tuple[str, str, int]] = []
        steps = 0
        while True:
            steps += 1
            assert steps < 200, "the dialplan loops"
            _label, app, raw = plan[context][exten][index]
            args = self.value(raw) if app not in ("Set",) else raw
            index += 1
            if app in ("NoOp", "Answer"):
                continue
            if app == "Set":
                name, _, value = raw.partition("=")
                self.variables[name] = self.value(value)
                continue
            if app in ("GotoIf", "GosubIf"):
                condition, _, target = args.partition("?")
                if condition.strip() in ("", "0"):
                    continue
                args, app = target, app[:-2]
            if app == "Gosub":
                stack.append((context, exten, index))
                context, exten, _ = args.split(",")
                index = 0
            elif app == "Return":
                context, exten, index = stack.pop()
            elif app == "Goto":
                parts = args.split(",")
                if len(parts) == 1:
                    index = [s[0] for s in plan[context][exten]].index(parts[0])
                else:
                    exten, index = parts[0], int(parts[1]) - 1
            elif app == "AGI":
                assert args.startswith("agi://10.0.0.20:4573/"), args
                self.agi(args.rpartition("/")[2], self.variables)
            elif app in ("Dial", "Queue", "MixMonitor"):
                self.done.append(f"{app}({args})")
            elif app == "Hangup":
                self.done.append(f"Hangup({args})")
                return
            else:
                raise AssertionError(f"application {app} is not understood by this walk")


def ivr_answers(**answers: str) -> Callable[[str, dict[str, str]], None]:
    """The hub's scripts, as far as the dialplan sees them: variables set per script."""

    def agi(script: str, variables: dict[str, str]) -> None:
        for name, value in answers.items():
            if (script == "contract") != name.startswith("CTIHUB_CASE"):
                variables[name] = value

    return agi


def walk(plan: Dialplan, free: set[str] = frozenset(), **answers: str) -> Call:  # type: ignore[assignment]
    call = Call(
        {"CALLERID(num)": "+982133445566", "FROM_DID": "2188000001", "UNIQUEID": "1796161983.11"},
        ivr_answers(**answers),
        set(free),
    )
    call.run(plan, "ctihub-ivr")
    return call


@pytest.fixture
def plan() -> Dialplan:
    return parse(SNIPPET.read_text())


def test_a_plain_caller_is_recorded_as_freepbx_names_it_and_queued_at_priority_0(
    plan: Dialplan,
) -> None:
    call = walk(plan, CTIHUB_CONTRACT="active")
    assert call.done == [
        "MixMonitor(2026/12/01/in-2188000001-982133445566-20261201-215323-1796161983.11.wav,b)",
        "Queue(support,t,,,300)",
        "Hangup()",
    ]
    assert call.variables["QUEUE_PRIO"] == "0"
    assert call.variables["CDR(recordingfile)"].endswith("-1796161983.11.wav")


def test_an_expired_contract_hangs_up_or_goes_to_the_renewal_queue_as_configured(
    plan: Dialplan,
) -> None:
    assert walk(plan, CTIHUB_CONTRACT="expired").done[1:] == ["Hangup(21)"]
    renewals = parse(
        SNIPPET.read_text().replace(
            "Set(CTIHUB_EXPIRED_QUEUE=)", "Set(CTIHUB_EXPIRED_QUEUE=renewals)"
        )
    )
    assert walk(renewals, CTIHUB_CONTRACT="expired").done[1:] == [
        "Queue(renewals,t,,,300)",
        "Hangup(21)",
    ]


def test_a_vip_rings_their_own_agent_first_when_free_then_queues_ahead(plan: Dialplan) -> None:
    answers = {"CTIHUB_CONTRACT": "active", "CTIHUB_OWNER": "1003", "CTIHUB_PRIORITY": "10"}
    call = walk(plan, {"1003"}, **answers)
    assert call.done[1:] == [
        "Dial(Local/1003@from-internal,20,t)",
        "Queue(support,t,,,300)",
        "Hangup()",
    ]
    assert call.variables["QUEUE_PRIO"] == "10"
    busy = walk(plan, set(), **answers)
    assert busy.done[1:] == ["Queue(support,t,,,300)", "Hangup()"], "a busy owner is skipped"


def test_the_case_owner_from_the_tracking_code_comes_before_the_customers_agent(
    plan: Dialplan,
) -> None:
    call = walk(
        plan,
        {"1002", "1003"},
        CTIHUB_CONTRACT="active",
        CTIHUB_OWNER="1003",
        CTIHUB_CASE="40012345",
        CTIHUB_CASE_OWNER="1002",
    )
    assert call.done[1] == "Dial(Local/1002@from-internal,20,t)"


def test_plain_asterisk_needs_only_its_own_contexts_in_the_settings(plan: Dialplan) -> None:
    plain = parse(
        SNIPPET.read_text()
        .replace("Set(CTIHUB_AGENTS=from-internal)", "Set(CTIHUB_AGENTS=phones)")
        .replace("Set(CTIHUB_HINTS=ext-local)", "Set(CTIHUB_HINTS=phones)")
    )
    call = walk(plain, {"1003"}, CTIHUB_CONTRACT="active", CTIHUB_OWNER="1003")
    assert call.done[1] == "Dial(Local/1003@phones,20,t)"


def test_the_hub_address_is_written_once_and_the_variables_read_are_those_the_hub_sets() -> None:
    text = SNIPPET.read_text()
    code = "\n".join(line.split(";", 1)[0] for line in text.splitlines())
    assert len(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", code)) == 1
    assert "allowed_peers" in text and "[agi] allowed " not in text
    read = set(re.findall(r"\$\{(CTIHUB_[A-Z_]+)\}", code))
    set_here = set(re.findall(r"Set\((CTIHUB_[A-Z_]+)=", code))
    set_by_hub = set(re.findall(r'"(CTIHUB_[A-Z_]+)"', Path(ivr.__file__).read_text()))
    assert read <= set_here | set_by_hub, read - set_here - set_by_hub
    assert {"CTIHUB_OWNER", "CTIHUB_PRIORITY", "CTIHUB_CASE_OWNER"} <= set_by_hub
