"""Phone number normalisation: whatever the PBX or a CSV file says, to E.164 or a verdict.

A caller ID is one of three things: an outside number (normalised to E.164
with ``phonenumbers``), an internal extension (never matched to customers),
or unknown (``anonymous``, empty, garbage). Persian and Arabic-Indic digits,
spaces, dashes, ``00``/``+`` international prefixes, a missing trunk zero and
a per-trunk outside-line prefix digit are all handled here, so nothing else
in the hub has to think about them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import phonenumbers

NumberKind = Literal["e164", "extension", "unknown"]

# Persian (U+06F0..U+06F9) and Arabic-Indic (U+0660..U+0669) digits to ASCII.
_DIGITS = str.maketrans(
    "۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩",
    "01234567890123456789",
)
# Separators people and PBXes put inside numbers, bidi marks from copy-paste included.
_SEPARATORS = re.compile(r"[\s\-.()/\u200c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MEMO_SIZE = 4096
_PLAIN = re.compile(r"^\+?[0-9]+$")
_UNKNOWN_WORDS = frozenset(
    {"anonymous", "unknown", "restricted", "private", "unavailable", "withheld", "asterisk"}
)


@dataclass(frozen=True, slots=True)
class NormalisedNumber:
    """The verdict on one number."""

    raw: str | None
    kind: NumberKind
    e164: str | None = None
    """``+989121234567`` when ``kind == "e164"``."""
    extension: str | None = None
    """The extension's digits when ``kind == "extension"``."""

    @property
    def digits(self) -> str | None:
        """The E.164 number without ``+`` (``989121234567``)."""
        return self.e164[1:] if self.e164 else None

    @property
    def reversed_digits(self) -> str | None:
        """Digits of the E.164 number, last first: what the suffix index is built on."""
        return self.e164[:0:-1] if self.e164 else None


class PhoneNormaliser:
    """Reads numbers for one installation: its home region, extensions and trunk prefixes."""

    def __init__(
        self,
        region: str = "IR",
        extension_pattern: str = r"^[1-9][0-9]{1,5}$",
        outside_line_prefix: Mapping[str, str] | None = None,
    ) -> None:
        self.region = region.upper()
        if self.region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {region!r}")
        self._extension = re.compile(extension_pattern)
        self._prefix = dict(outside_line_prefix or {})
        # Parsing costs ~40 µs, most of a cached lookup: repeat callers skip it.
        self._memo: OrderedDict[tuple[str | None, str | None], NormalisedNumber] = OrderedDict()

    def normalise(self, raw: str | None, trunk: str | None = None) -> NormalisedNumber:
        """Classify and normalise ``raw``; ``trunk`` selects the outside-line prefix to strip."""
        key = (raw, trunk)
        found = self._memo.get(key)
        if found is not None:
            return found
        result = self._normalise(raw, trunk)
        self._memo[key] = result
        if len(self._memo) > _MEMO_SIZE:
            self._memo.popitem(last=False)
        return result

    def _normalise(self, raw: str | None, trunk: str | None) -> NormalisedNumber:
        if raw is None:
            return NormalisedNumber(raw, "unknown")
        text = _SEPARATORS.sub("", raw.translate(_DIGITS)).strip()
        if not text or text.lower().strip("<>\"'") in _UNKNOWN_WORDS:
            return NormalisedNumber(raw, "unknown")
        if not _PLAIN.match(text):
            return NormalisedNumber(raw, "unknown")
        if not text.startswith("+") and self._extension.match(text):
            return NormalisedNumber(raw, "extension", extension=text)
        prefix = self._prefix.get(trunk or "")
        if prefix and text.startswith(prefix) and not text.startswith("+"):
            stripped = text[len(prefix) :]
            e164 = self._to_e164(stripped)
            if e164 is not None:
                return NormalisedNumber(raw, "e164", e164=e164)
        e164 = self._to_e164(text)
        if e164 is None:
            return NormalisedNumber(raw, "unknown")
        return NormalisedNumber(raw, "e164", e164=e164)

    def e164(self, raw: str | None) -> str | None:
        """Just the E.164 form of ``raw``, or None."""
        return self.normalise(raw).e164

    def national(self, e164: str) -> str:
        """The number as dialled inside its country (``09121234567``)."""
        parsed = phonenumbers.parse(e164, None)
        formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        return _SEPARATORS.sub("", formatted)

    def _to_e164(self, text: str) -> str | None:
        if text.startswith("00"):
            text = "+" + text[2:]
        try:
            parsed = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(parsed):
            return None
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def reverse_digits_prefix(e164: str, digits: int) -> str:
    """The reversed last ``digits`` digits: the key of a last-N-digits range scan."""
    return e164[1:][::-1][:digits]
