"""The canonical name form (netid-name-v1, specs/protocol.md §3) against its vectors, and its properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.errors import UsageError
from netid.names import MIDDLE_DOT, MIDDLE_DOTS, canonical_name
from tests.vectors import load_vectors

VECTORS = load_vectors("name-canonical")


def test_vectors_name_this_form() -> None:
    assert VECTORS["form"] == "netid-name-v1"


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["note"])
def test_canonical_name_vectors(case: dict[str, Any]) -> None:
    assert canonical_name(case["input"]) == case["canonical"]
    assert canonical_name(case["canonical"]) == case["canonical"]  # the canonical form is a fixed point


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["reason"])
def test_invalid_names_are_refused(case: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        canonical_name(case["input"])


def test_every_middle_dot_variant_reads_as_one() -> None:
    for dot in MIDDLE_DOTS:
        assert canonical_name(f"阿依古丽{dot}买买提") == f"阿依古丽{MIDDLE_DOT}买买提"


def test_not_a_string() -> None:
    with pytest.raises(UsageError):
        canonical_name(b"name")  # type: ignore[arg-type]


@given(st.text(min_size=1, max_size=40))
def test_idempotent_and_free_of_spaces(text: str) -> None:
    try:
        out = canonical_name(text)
    except UsageError:
        return
    assert canonical_name(out) == out
    assert not any(c.isspace() for c in out)
    assert not (set(out) & (MIDDLE_DOTS - {MIDDLE_DOT}))
