"""The 18-character personal number: ISO 7064 MOD 11-2 check character, structure, masking."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.errors import ParseError, UsageError
from netid.personal_number import (
    is_valid_personal_number,
    mask_personal_number,
    personal_number_check_char,
    validate_personal_number,
)
from tests.vectors import load_vectors

VECTORS = load_vectors("gb11643-personal-number")

seventeen_digits = st.text(alphabet="0123456789", min_size=17, max_size=17)


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["number"][:6])
def test_published_numbers_are_valid(case: dict[str, str]) -> None:
    number = case["number"]
    assert personal_number_check_char(number[:17]) == number[17]
    info = validate_personal_number(number)
    assert info.region_code == case["region_code"]
    assert info.date_of_birth == datetime.date.fromisoformat(case["date_of_birth"])
    assert info.sex == case["sex"]
    assert info.province_code == number[:2] and info.city_code == number[:4]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["reason"])
def test_invalid_numbers_are_refused(case: dict[str, str]) -> None:
    with pytest.raises(ParseError) as exc:
        validate_personal_number(case["number"])
    assert case["number"] not in str(exc.value)  # errors never echo the number
    assert not is_valid_personal_number(case["number"])


def test_lowercase_x_is_normalised() -> None:
    assert validate_personal_number("11010519491231002x").value == "11010519491231002X"


def test_check_char_needs_17_digits() -> None:
    with pytest.raises(UsageError):
        personal_number_check_char("1234")


def test_masking_keeps_only_the_region_code() -> None:
    assert mask_personal_number("11010519491231002X") == "110105************"
    assert mask_personal_number("short") == "*****"
    info = validate_personal_number("11010519491231002X")
    assert "19491231" not in repr(info) and "19491231" not in str(info)


@given(seventeen_digits, st.integers(0, 16), st.integers(1, 9))
def test_every_single_digit_error_is_caught(first17: str, pos: int, delta: int) -> None:
    number = first17 + personal_number_check_char(first17)
    changed = first17[:pos] + str((int(first17[pos]) + delta) % 10) + first17[pos + 1 :]
    assert personal_number_check_char(changed) != number[17]


@given(seventeen_digits, st.integers(0, 15))
def test_every_adjacent_transposition_is_caught(first17: str, pos: int) -> None:
    if first17[pos] == first17[pos + 1]:
        return
    swapped = first17[:pos] + first17[pos + 1] + first17[pos] + first17[pos + 2 :]
    assert personal_number_check_char(swapped) != personal_number_check_char(first17)
