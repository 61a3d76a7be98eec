"""Domain events' JSON form, read back as the bus and the spool read it."""

from __future__ import annotations

import json

import pytest

from cti.events import EVENT_TYPES, PbxLinkChanged, event_from_dict


def test_pbx_link_changed_round_trips_through_json_with_its_documented_form() -> None:
    event = PbxLinkChanged(state="down", detail="connection lost: closed by the PBX", at=12.5)
    data = json.loads(json.dumps(event.to_dict()))
    assert data == {
        "type": "pbx_link_changed",
        "state": "down",
        "detail": "connection lost: closed by the PBX",
        "at": 12.5,
    }
    assert event_from_dict(data) == event
    assert EVENT_TYPES["pbx_link_changed"] is PbxLinkChanged


def test_pbx_link_changed_without_a_field_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="missing field 'detail'"):
        event_from_dict({"type": "pbx_link_changed", "state": "up", "at": None})
