"""Case tracking codes: short random digit strings with a Verhoeff check digit.

A caller keys the code on a phone. Verhoeff catches every single mistyped
digit and every swap of two neighbouring digits, so the IVR can reject a
typo before any database lookup. Codes are drawn with ``secrets``: knowing
one code says nothing about the next.
"""

from __future__ import annotations

import secrets

# Dihedral group D5 multiplication, permutation and inverse tables (Verhoeff 1969).
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 8, 7, 6, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff_check_digit(digits: str) -> str:
    """The Verhoeff check digit to append to ``digits``."""
    _require_digits(digits)
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[c])


def verhoeff_is_valid(code: str) -> bool:
    """True when the last digit of ``code`` is the Verhoeff check digit of the rest."""
    if len(code) < 2 or not code.isascii() or not code.isdigit():
        return False
    c = 0
    for i, ch in enumerate(reversed(code)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def is_well_formed(code: str, length: int) -> bool:
    """What the IVR checks before any lookup: right length, digits only, check digit right."""
    return len(code) == length and verhoeff_is_valid(code)


def new_tracking_code(length: int) -> str:
    """A random code of ``length`` digits (check digit included); never starts with 0."""
    if length < 3:
        raise ValueError(f"tracking code length must be at least 3, got {length}")
    # No leading zero: some IVRs and spreadsheets drop it.
    body = str(secrets.randbelow(9) + 1) + "".join(
        str(secrets.randbelow(10)) for _ in range(length - 2)
    )
    return body + verhoeff_check_digit(body)


def _require_digits(digits: str) -> None:
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"expected ASCII digits, got {digits!r}")
