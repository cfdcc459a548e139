"""The `netid` command as a user runs it: exit codes, what it prints, and what it must never print."""

from __future__ import annotations

import pytest

from netid.cli import main
from netid.testing.cards import make_card


def test_readers_lists_the_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "readers"]) == 0
    assert "sim" in capsys.readouterr().out


def test_read_simulated_card_shows_verdicts_and_masks_the_number(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "read", "--reader", "sim:3"]) == 0
    out = capsys.readouterr().out
    person = make_card(3).person
    assert "passive auth       passed" in out and "active auth        passed" in out
    assert person.personal_number[:6] + "*" * 12 in out
    assert person.personal_number not in out


def test_wrong_mrz_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "read", "--reader", "sim:3", "--mrz", "X12345678,900101,300101"]) == 1
    out = capsys.readouterr().out
    assert "error:" in out and "MRZ data or CAN" in out and "Traceback" not in out


@pytest.mark.parametrize("mrz", ["X,1,2", "only-one-field", "D1,900101"])
def test_malformed_mrz_argument(mrz: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", "read", "--reader", "sim:3", "--mrz", mrz]) == 1
    assert "error:" in capsys.readouterr().out
