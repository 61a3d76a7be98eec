"""Tracking codes: Verhoeff check digits catch typos before any lookup."""

from __future__ import annotations

import itertools

import pytest

from crm_sync.tracking_codes import (
    is_well_formed,
    new_tracking_code,
    verhoeff_check_digit,
    verhoeff_is_valid,
)


def test_verhoeff_check_digit_matches_the_published_examples() -> None:
    # Rosetta Code's Verhoeff task: 236 -> 3, 12345 -> 1, 123456789012 -> 0.
    assert verhoeff_check_digit("236") == "3"
    assert verhoeff_check_digit("12345") == "1"
    assert verhoeff_check_digit("123456789012") == "0"
    assert verhoeff_is_valid("2363")
    assert not verhoeff_is_valid("2364")


@pytest.mark.parametrize("code", ["50412346", "12345671", "99999999"])
def test_every_single_mistyped_digit_is_caught(code: str) -> None:
    valid = code[:-1] + verhoeff_check_digit(code[:-1])
    for position in range(len(valid)):
        for digit in "0123456789":
            if digit != valid[position]:
                typo = valid[:position] + digit + valid[position + 1 :]
                assert not verhoeff_is_valid(typo), typo


@pytest.mark.parametrize("body", ["5041234", "1234567", "9081726"])
def test_every_swap_of_neighbouring_digits_is_caught(body: str) -> None:
    valid = body + verhoeff_check_digit(body)
    for i in range(len(valid) - 1):
        if valid[i] != valid[i + 1]:
            swapped = valid[:i] + valid[i + 1] + valid[i] + valid[i + 2 :]
            assert not verhoeff_is_valid(swapped), swapped


def test_new_codes_have_the_length_no_leading_zero_and_a_valid_check_digit() -> None:
    for _ in range(200):
        code = new_tracking_code(8)
        assert len(code) == 8
        assert code[0] != "0"
        assert is_well_formed(code, 8)


def test_consecutive_codes_do_not_follow_a_sequence() -> None:
    codes = [int(new_tracking_code(8)) for _ in range(50)]
    steps = {b - a for a, b in itertools.pairwise(codes)}
    assert len(set(codes)) == 50
    assert len(steps) > 40  # a counter would give one step


@pytest.mark.parametrize("code", ["", "1234567", "123456789", "1234567a", "۱۲۳۴۵۶۷۸", "40012346"])
def test_wrong_length_non_digits_and_bad_check_digits_are_not_well_formed(code: str) -> None:
    # 40012345 (the lab IVR's code) happens to end in its Verhoeff digit; one digit off is not.
    assert not is_well_formed(code, 8)


def test_the_lab_ivr_code_happens_to_pass_the_check() -> None:
    assert is_well_formed("40012345", 8)
