"""JSON at the server's edge: the one encoder and the one decoder of everything it sends and reads.

Backends hand the server typed values (frozen dataclasses, ``datetime``);
they become JSON here and nowhere else, so the in-memory stand-in used by
some tests and the real ``crm_sync`` backend cannot produce different JSON
for the same value. Dataclasses become objects of their fields, dates and
times ISO 8601 strings, tuples and sets arrays.

Decoding refuses what ``json`` would let through as a crash: nesting deep
enough to exhaust the recursion limit is a :class:`ValueError` like any
other malformed text, so a hostile body is a 400 and a hostile websocket
message is an ignored one, never a 500 or a dead socket.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Shallow: json recurses and calls back here for nested values.
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)


def encode(value: object) -> str:
    """The one JSON encoding of a value (compact, UTF-8 kept readable)."""
    return _ENCODER.encode(value)


def decode(text: str | bytes) -> Any:
    """Parse JSON text; raises :class:`ValueError` for anything malformed, however deep."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def json_response(
    value: object, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An ``application/json`` response of ``value`` through :func:`encode`."""
    return web.Response(
        text=encode(value), status=status, content_type="application/json", headers=headers
    )
