"""MRZ: TD1 / TD3 parsing with check digits, encoding, names, access keys."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.card.icao.access import MrzAccessKey
from netid.card.icao.mrz import encode_td1, encode_td3, mrz_name_component, parse_mrz
from netid.errors import ParseError, UsageError
from tests.vectors import load_vectors

VECTORS = load_vectors("icao9303-mrz")
FIELDS = (
    "document_code",
    "issuing_state",
    "document_number",
    "date_of_birth",
    "sex",
    "date_of_expiry",
    "nationality",
    "surname",
    "given_names",
    "optional_data",
)


@pytest.mark.parametrize("name", ["td1", "td3", "td1_long_document_number"])
def test_specimens_parse_and_round_trip(name: str) -> None:
    case: dict[str, Any] = VECTORS[name]
    mrz = parse_mrz(case["text"])
    for field in FIELDS:
        assert getattr(mrz, field) == case[field], field
    assert mrz.to_text() == case["text"]
    # DG1 stores the lines concatenated; that parses the same
    assert parse_mrz(case["text"].replace("\n", "")) == mrz


def test_access_key_from_mrz() -> None:
    mrz = parse_mrz(VECTORS["td3"]["text"])
    assert mrz.access_key == MrzAccessKey("L898902C3", "740812", "120415")
    bac = VECTORS["bac_mrz_information"]
    key = MrzAccessKey(bac["document_number"], bac["date_of_birth"], bac["date_of_expiry"])
    assert key.mrz_information == bac["mrz_information"]


# (line index, column) of each check digit and the field it protects
TD1_CHECKS = [
    (0, 14, "document_number"),
    (1, 6, "date_of_birth"),
    (1, 14, "date_of_expiry"),
    (1, 29, "composite"),
]
TD3_CHECKS = [
    (1, 9, "document_number"),
    (1, 19, "date_of_birth"),
    (1, 27, "date_of_expiry"),
    (1, 42, "personal_number"),
    (1, 43, "composite"),
]


def _with_char(text: str, line: int, col: int, ch: str) -> str:
    lines = text.split("\n")
    lines[line] = lines[line][:col] + ch + lines[line][col + 1 :]
    return "\n".join(lines)


@pytest.mark.parametrize(("name", "checks"), [("td1", TD1_CHECKS), ("td3", TD3_CHECKS)])
def test_wrong_check_digit_names_the_field(name: str, checks: list[tuple[int, int, str]]) -> None:
    text = VECTORS[name]["text"]
    for line, col, field in checks:
        current = text.split("\n")[line][col]
        bad = _with_char(text, line, col, str((int(current) + 1) % 10))
        with pytest.raises(ParseError, match=f"check digit of {field} "):
            parse_mrz(bad)


def test_changed_data_breaks_its_check_digit() -> None:
    text = VECTORS["td1"]["text"]
    with pytest.raises(ParseError, match="date_of_birth"):
        parse_mrz(_with_char(text, 1, 0, "8"))


@pytest.mark.parametrize(
    "text",
    ["", "P<UTO", "I<UTO" + "<" * 25 + "\n" + "<" * 30, "a" * 90, "X" * 10_000, "P<UTO\u00e9" + "<" * 82],
)
def test_malformed_mrz_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_mrz(text)


def test_bad_date_and_sex() -> None:
    td1 = encode_td1(
        document_number="C12345678",
        date_of_birth="900101",
        sex="M",
        date_of_expiry="350101",
        surname="ZHANG",
        given_names="WEI",
    )
    with pytest.raises(ParseError, match="sex"):
        # Z is a valid MRZ character but no sex; the composite check does not cover this position
        parse_mrz(_with_char(td1, 1, 7, "Z"))


def test_encode_td1_for_a_chinese_card() -> None:
    text = encode_td1(
        document_number="C12345678",
        date_of_birth="900101",
        sex="F",
        date_of_expiry="350101",
        surname="OUYANG",
        given_names="XIAO MING",
    )
    lines = text.split("\n")
    assert [len(x) for x in lines] == [30, 30, 30]
    assert lines[0].startswith("IDCHNC12345678")
    assert lines[2] == "OUYANG<<XIAO<MING".ljust(30, "<")
    mrz = parse_mrz(text)
    assert (mrz.surname, mrz.given_names, mrz.nationality, mrz.sex) == ("OUYANG", "XIAO MING", "CHN", "F")
    assert mrz.name_field == "OUYANG<<XIAO<MING"


def test_long_names_are_truncated_not_refused() -> None:
    text = encode_td1(
        document_number="C1",
        date_of_birth="900101",
        sex="M",
        date_of_expiry="350101",
        surname="A" * 20,
        given_names="B" * 20,
    )
    assert text.split("\n")[2] == "A" * 20 + "<<" + "B" * 8


def test_encode_refuses_bad_input() -> None:
    ok = {
        "document_number": "C12345678",
        "date_of_birth": "900101",
        "sex": "M",
        "date_of_expiry": "350101",
        "surname": "LI",
        "given_names": "NA",
    }
    for change in (
        {"date_of_birth": "901301"},
        {"sex": "Q"},
        {"surname": "张"},
        {"document_number": "c1"},
        {"document_number": ""},
    ):
        with pytest.raises(UsageError):
            encode_td1(**{**ok, **change})
    with pytest.raises(UsageError):
        encode_td1(**ok, optional_data="X" * 16)
    with pytest.raises(UsageError):
        mrz_name_component("Müller")


def test_td3_round_trip_with_and_without_personal_number() -> None:
    for personal in ("", "ZE184226B"):
        text = encode_td3(
            document_number="E12345678",
            date_of_birth="850607",
            sex="M",
            date_of_expiry="300101",
            surname="WANG",
            given_names="JIANGUO",
            personal_number=personal,
        )
        mrz = parse_mrz(text)
        assert mrz.optional_data == personal and mrz.format == "TD3"
        assert mrz.to_text() == text


def test_repr_does_not_leak_personal_data() -> None:
    mrz = parse_mrz(VECTORS["td1"]["text"])
    assert "ERIKSSON" not in repr(mrz) and "740812" not in repr(mrz) and "D23145890" not in repr(mrz)


mrz_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ<", min_size=1, max_size=20).filter(
    lambda s: s.strip("<") != "" and "<<" not in s and not s.startswith("<") and not s.endswith("<")
)
dates = st.dates().map(lambda d: d.strftime("%y%m%d"))


@given(
    number=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=20),
    dob=dates,
    doe=dates,
    sex=st.sampled_from("MFX<"),
    names=st.tuples(mrz_text, mrz_text),
)
def test_td1_round_trip(number: str, dob: str, doe: str, sex: str, names: tuple[str, str]) -> None:
    surname, given_names = names
    text = encode_td1(
        document_number=number,
        date_of_birth=dob,
        sex=sex,
        date_of_expiry=doe,
        surname=surname,
        given_names=given_names,
    )
    mrz = parse_mrz(text)
    assert (mrz.document_number, mrz.date_of_birth, mrz.date_of_expiry, mrz.sex) == (number, dob, doe, sex)
    assert mrz.to_text() == text
