"""JSON at the server's edge: typed values encoded in one place, hostile JSON refused."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from popup_server.ports import CaseInfo, PhonebookEntry, PhoneEntry
from popup_server.wire import decode, encode
from tests.popup_server.conftest import demo_crm


def test_typed_values_become_json_objects_with_iso_dates() -> None:
    due = dt.datetime(2026, 12, 2, 8, 30, tzinfo=dt.UTC)
    case = CaseInfo(11, "40012345", "قطعی اینترنت", "open", "high", due, 1)
    assert json.loads(encode({"case": case, "tags": frozenset({"b", "a"})})) == {
        "case": {
            "id": 11,
            "tracking_code": "40012345",
            "subject": "قطعی اینترنت",
            "status": "open",
            "priority": "high",
            "due_at": "2026-12-02T08:30:00+00:00",
            "customer_id": 1,
        },
        "tags": ["a", "b"],
    }
    # Persian stays readable on the wire, not \\u-escaped.
    assert "قطعی" in encode(case)


async def test_the_in_memory_stand_in_encodes_to_the_same_shape_as_the_port_type() -> None:
    entries = await demo_crm().search("laleh", 5)
    assert entries == [
        PhonebookEntry(
            2,
            "Laleh Farahani",
            None,
            False,
            False,
            (PhoneEntry("+982177665544", "+982177665544", "mobile"),),
        )
    ]
    assert json.loads(encode(entries))[0]["numbers"] == [
        {"raw": "+982177665544", "e164": "+982177665544", "kind": "mobile"}
    ]


def test_something_that_is_not_json_data_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        encode({"x": object()})


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_json_nested_beyond_the_recursion_limit_is_a_value_error(depth: int) -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        decode("[" * depth + "]" * depth)
    with pytest.raises(ValueError, match="nested too deeply"):
        decode('{"a":' * depth + "1" + "}" * depth)
    shallow = decode("[" * 100 + "]" * 100)
    for _ in range(99):
        shallow = shallow[0]
    assert shallow == []
