"""Phone normalisation, with expected values written from the Iranian numbering plan."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_sync.phones import PhoneNormaliser, reverse_digits_prefix


@pytest.fixture
def phones() -> PhoneNormaliser:
    return PhoneNormaliser("IR", outside_line_prefix={"dahdi-g0": "9"})


@pytest.mark.parametrize(
    "raw",
    [
        "+989121234567",
        "00989121234567",
        "989121234567",
        "09121234567",
        "9121234567",
        "0912 123 4567",
        "0912-123-4567",
        "+98 (912) 123-4567",
        "۰۹۱۲۱۲۳۴۵۶۷",
        "٠٩١٢١٢٣٤٥٦٧",
        "\u200e+98 912 123 4567\u200f",
    ],
)
def test_every_way_of_writing_one_mobile_normalises_to_the_same_e164(
    phones: PhoneNormaliser, raw: str
) -> None:
    result = phones.normalise(raw)
    assert result.kind == "e164"
    assert result.e164 == "+989121234567"


@pytest.mark.parametrize(
    "raw", ["+982188776655", "02188776655", "2188776655", "0098 21 8877 6655", "982188776655"]
)
def test_tehran_landline_is_read_with_or_without_trunk_zero_and_country_code(
    phones: PhoneNormaliser, raw: str
) -> None:
    assert phones.normalise(raw).e164 == "+982188776655"


@pytest.mark.parametrize(("raw", "extension"), [("1001", "1001"), ("۱۰۰۲", "1002"), ("42", "42")])
def test_internal_extensions_are_recognised_and_get_no_e164(
    phones: PhoneNormaliser, raw: str, extension: str
) -> None:
    result = phones.normalise(raw)
    assert result.kind == "extension"
    assert result.extension == extension
    assert result.e164 is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "anonymous",
        "Anonymous",
        "unknown",
        "<unknown>",
        "Restricted",
        "abc",
        "12ab34",
        "+",
        "0",
        "0912123456789012345",
        "+98abc",
    ],
)
def test_anonymous_empty_and_garbage_caller_ids_are_unknown(
    phones: PhoneNormaliser, raw: str | None
) -> None:
    result = phones.normalise(raw)
    assert result.kind == "unknown"
    assert result.e164 is None


def test_outside_line_prefix_is_stripped_only_for_its_trunk(phones: PhoneNormaliser) -> None:
    assert phones.normalise("909121234567", trunk="dahdi-g0").e164 == "+989121234567"
    assert phones.normalise("909121234567", trunk="other").kind == "unknown"
    # The trunk's prefix does not eat the '+' form.
    assert phones.normalise("+989121234567", trunk="dahdi-g0").e164 == "+989121234567"


def test_foreign_numbers_keep_their_country(phones: PhoneNormaliser) -> None:
    assert phones.normalise("0044 20 7946 0958").e164 == "+442079460958"


def test_suffix_index_key_is_the_reversed_last_digits(phones: PhoneNormaliser) -> None:
    result = phones.normalise("09121234567")
    assert result.reversed_digits == "765432121989"
    assert reverse_digits_prefix("+989121234567", 8) == "76543212"


def test_national_form_is_what_is_dialled_inside_iran(phones: PhoneNormaliser) -> None:
    assert phones.national("+989121234567") == "09121234567"
    assert phones.national("+982188776655") == "02188776655"


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown phone region 'XX'"):
        PhoneNormaliser("XX")


PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@given(
    subscriber=st.integers(min_value=0, max_value=9_999_999),
    operator=st.sampled_from(["912", "935", "901", "919"]),
    prefix=st.sampled_from(["+98", "0098", "98", "0", ""]),
    separators=st.lists(st.sampled_from(["", " ", "-", ".", "\u200e"]), min_size=10, max_size=10),
    persian=st.booleans(),
)
def test_any_spelling_of_a_mobile_reaches_the_same_e164(
    subscriber: int, operator: str, prefix: str, separators: list[str], persian: bool
) -> None:
    national = f"{operator}{subscriber:07d}"
    spelled = prefix + "".join(d + sep for d, sep in zip(national, separators, strict=True))
    if persian:
        spelled = spelled.translate(PERSIAN)
    assert PhoneNormaliser("IR").normalise(spelled).e164 == "+98" + national
