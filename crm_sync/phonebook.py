"""Phonebook search: one folded text per customer, matched by any part of a name or number.

Persian is typed with Arabic keyboards too (ي for ی, ك for ک), with or without
the zero-width non-joiner, in Persian, Arabic or Latin digits. ``fold`` brings
all of those to one form, both for the stored ``customers.search_text`` and
for what the agent types, so "علي" finds "علی". The text is indexed by a
trigram index (``pg_trgm`` GIN on PostgreSQL, an FTS5 ``trigram`` table on
SQLite), which makes a substring match an index lookup instead of a scan.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_FOLD = str.maketrans(
    {
        "ي": "ی",
        "ى": "ی",
        "ئ": "ی",
        "ك": "ک",
        "ة": "ه",
        "ۀ": "ه",
        "أ": "ا",
        "إ": "ا",
        "ٱ": "ا",
        "\u200c": None,  # zero-width non-joiner: "محمد‌رضا" and "محمدرضا" are one name
        "\u200d": None,
        "\u0640": None,  # tatweel
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Persian digits
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic digits
    }
)
_MARKS = re.compile("[\u064b-\u065f\u0670]")  # Arabic vowel marks
_SPACES = re.compile(r"\s+")
_NUMBERISH = re.compile(r"^[\d\s+()\-./]+$")

MIN_INDEXED_QUERY = 3
"""Trigram indexes serve queries of three characters or more."""


def fold(text: str) -> str:
    """``text`` in the one form search compares: lower case, one ی and one ک, Latin digits."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).lower()
    return _SPACES.sub(" ", _MARKS.sub("", text)).strip()


def fold_query(query: str) -> str:
    """What the agent typed, folded; a number keeps only its digits ("0912 345" → "0912345")."""
    folded = fold(query)
    if _NUMBERISH.match(folded):
        return re.sub(r"\D", "", folded)
    return folded


def search_text(name: str, ref: str | None, email: str | None, numbers: Iterable[str]) -> str:
    """The folded text stored for one customer: name, account number, email, numbers' digits."""
    parts = [fold(name)]
    parts.extend(fold(value) for value in (ref, email) if value)
    for number in numbers:
        digits = re.sub(r"\D", "", fold(number))
        if digits:
            parts.append(digits)
    return " ".join(part for part in parts if part)


def like_pattern(folded: str) -> str:
    """A LIKE pattern for a substring match, with ``\\`` escaping LIKE's own characters."""
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
