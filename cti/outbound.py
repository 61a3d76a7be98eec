"""Calling customers back: when they may be called, and what an attempt's call came to.

Pure helpers shared by callbacks and call lists (``crm_sync/callbacks.py``,
``crm_sync/call_lists.py``). A customer's hours are a daily window in the
call center's local time; a window whose end is before its start runs across
midnight (22:00-06:00).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from cti.events import CallEnded

AttemptOutcome = Literal["answered", "no_answer", "busy", "failed"]


def within_hours(local: dt.time, start: dt.time | None, end: dt.time | None) -> bool:
    """True when ``local`` is inside the window [start, end); no window: any time."""
    if start is None or end is None or start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def attempt_outcome(event: CallEnded) -> AttemptOutcome:
    """How an outbound call placed for a callback or a list went, from its end."""
    if event.disposition == "answered" and (event.talk_seconds or 0) > 0:
        return "answered"
    if event.disposition == "busy":
        return "busy"
    if event.disposition == "failed":
        return "failed"
    return "no_answer"
