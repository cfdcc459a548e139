"""APDU and BER-TLV codecs: round trips, the ISO 7816-3 cases, and hostile input."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.card import tlv
from netid.card.apdu import (
    CommandAPDU,
    FileNotFound,
    ResponseAPDU,
    SecurityStatusNotSatisfied,
    WrongLe,
    status_error,
)
from netid.errors import CardStatusError, ParseError

apdus = st.builds(
    CommandAPDU,
    cla=st.integers(0, 255),
    ins=st.integers(0, 255),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.binary(max_size=600),
    ne=st.none() | st.integers(1, 65536),
)


@given(apdus)
def test_command_apdu_round_trip(apdu: CommandAPDU) -> None:
    assert CommandAPDU.from_bytes(apdu.to_bytes()) == apdu
    if not apdu.needs_extended and (apdu.data or apdu.ne is not None):
        assert CommandAPDU.from_bytes(apdu.to_bytes(extended=True)) == apdu


def test_short_and_extended_encodings() -> None:
    select = CommandAPDU(0x00, 0xA4, 0x02, 0x0C, bytes.fromhex("011E"))
    assert select.to_bytes().hex().upper() == "00A4020C02011E"
    read = CommandAPDU(0x00, 0xB0, 0x00, 0x00, ne=256)
    assert read.to_bytes() == bytes.fromhex("00B0000000")
    read_ext = CommandAPDU(0x00, 0xB0, 0x00, 0x00, ne=65536)
    assert read_ext.to_bytes() == bytes.fromhex("00B00000000000")


@given(st.binary(max_size=300))
def test_command_apdu_parser_raises_only_parse_error(raw: bytes) -> None:
    try:
        apdu = CommandAPDU.from_bytes(raw)
    except ParseError:
        return
    assert apdu.to_bytes(extended=len(raw) > 4 and raw[4] == 0 and len(raw) > 5) == raw


def test_status_words_map_to_precise_errors() -> None:
    assert isinstance(status_error(0x6982), SecurityStatusNotSatisfied)
    assert isinstance(status_error(0x6A82), FileNotFound)
    err = status_error(0x6C10)
    assert isinstance(err, WrongLe) and err.available == 0x10
    assert type(status_error(0x6123)) is CardStatusError
    with pytest.raises(FileNotFound):
        ResponseAPDU.from_bytes(bytes.fromhex("6A82")).check()
    assert ResponseAPDU.from_bytes(bytes.fromhex("01029000")).check().data == b"\x01\x02"


tags = st.sampled_from([0x01, 0x5F1F, 0x7F61, 0x30, 0x04, 0x5F2E, 0x80, 0xA0])


@given(tags, st.binary(max_size=70000))
def test_tlv_round_trip(tag: int, value: bytes) -> None:
    encoded = tlv.encode(tag, value)
    decoded = tlv.decode_single(encoded)
    assert decoded.tag == tag and decoded.value == value


@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=8))
def test_tlv_sequence_round_trip(items: list[tuple[int, bytes]]) -> None:
    data = b"".join(tlv.encode(t, v) for t, v in items)
    assert [(x.tag, x.value) for x in tlv.decode_all(data)] == items


@given(st.binary(max_size=200))
def test_tlv_parser_raises_only_parse_error(raw: bytes) -> None:
    try:
        for item in tlv.decode_all(raw):
            if item.constructed:
                item.children()
    except ParseError:
        pass


def test_tlv_rejects_lengths_beyond_the_input() -> None:
    # a 4-byte length claiming 4 GiB must fail fast without allocating
    with pytest.raises(ParseError, match="past the end"):
        tlv.decode_single(bytes.fromhex("0484FFFFFFFF00"))
    with pytest.raises(ParseError, match="indefinite"):
        tlv.decode_single(bytes.fromhex("308000"))
    with pytest.raises(ParseError, match="longer than 4"):
        tlv.decode_single(bytes.fromhex("0485FFFFFFFFFF"))
