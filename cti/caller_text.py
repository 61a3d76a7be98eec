"""Caller id text from the PBX made safe to show: bounded in length, no bidi tricks.

Asterisk passes on whatever the calling side put in ``CallerIDName`` (and,
for SIP and IAX trunks, in the number): a name of 200,000 characters, or one
with a right-to-left override (U+202E) that shows ``moc.knab`` as
``bank.com`` in an agent's panel and in the call log. :func:`clean` is the
one place such text is made harmless, where the PBX's data enters the hub.
"""

from __future__ import annotations

import unicodedata

MAX_CALLER_TEXT = 64
"""Characters kept of a caller's number or name (the call log's column holds 64)."""

_BIDI_CONTROLS = frozenset(
    "\u061c"  # ARABIC LETTER MARK
    "\u200e\u200f"  # LEFT-TO-RIGHT / RIGHT-TO-LEFT MARK
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings, pop, overrides (LRO, RLO)
    "\u2066\u2067\u2068\u2069"  # isolates
)


def clean(text: str, limit: int = MAX_CALLER_TEXT) -> str:
    """``text`` without bidi controls or other control characters, cut to ``limit``.

    Joiners stay: the zero-width non-joiner (U+200C) is part of Persian spelling.
    """
    kept = (
        ch
        for ch in text[: limit * 4]  # never scan more than could be kept
        if ch not in _BIDI_CONTROLS and unicodedata.category(ch) != "Cc"
    )
    return "".join(kept)[:limit].strip()
