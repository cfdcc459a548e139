"""SecurityInfos (EF.CardAccess, DG14): the G.1 vector, round trips and hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.card.icao.security_infos import (
    ECDSA_PLAIN_SHA256,
    ID_PACE_ECDH_GM_AES_CBC_CMAC_128,
    ActiveAuthenticationInfo,
    PaceInfo,
    SecurityInfos,
    decode_oid,
    encode_oid,
    encode_security_infos,
    parse_security_infos,
)
from netid.errors import ParseError
from tests.vectors import h, load_vectors

PACE_V = load_vectors("icao9303-11")["pace_ecdh_gm_brainpoolp256r1_aes128"]


def test_card_access_vector() -> None:
    infos = parse_security_infos(h(PACE_V["ef_cardaccess"]))
    assert infos.pace == (PaceInfo(PACE_V["protocol_oid"], 2, PACE_V["parameter_id"]),)
    assert infos.active_authentication is None and infos.other == ()
    assert encode_security_infos(infos) == h(PACE_V["ef_cardaccess"])


def test_round_trip_with_aa_and_unknown_infos() -> None:
    chip_auth = bytes.fromhex("300F060A04007F00070202030202020101")  # ChipAuthenticationInfo, kept verbatim
    infos = SecurityInfos(
        pace=(
            PaceInfo(ID_PACE_ECDH_GM_AES_CBC_CMAC_128, 2, 12),
            PaceInfo(ID_PACE_ECDH_GM_AES_CBC_CMAC_128, 2, 13),
        ),
        active_authentication=ActiveAuthenticationInfo(ECDSA_PLAIN_SHA256),
        other=(chip_auth,),
    )
    parsed = parse_security_infos(encode_security_infos(infos))
    assert set(parsed.pace) == set(infos.pace)
    assert parsed.active_authentication == infos.active_authentication
    assert parsed.other == (chip_auth,)


def test_pace_info_without_parameter_id() -> None:
    infos = SecurityInfos(pace=(PaceInfo(ID_PACE_ECDH_GM_AES_CBC_CMAC_128, 2, None),))
    assert parse_security_infos(encode_security_infos(infos)) == infos


@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=8), st.integers(0, 2), st.integers(0, 39))
def test_oid_round_trip(arcs: list[int], first: int, second: int) -> None:
    dotted = ".".join(str(a) for a in [first, second, *arcs])
    assert decode_oid(encode_oid(dotted)) == dotted


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x30\x00",  # not a SET
        b"\x31\x02\x02\x00",  # element not a SEQUENCE
        b"\x31\x04\x30\x02\x06\x00",  # SecurityInfo without required data, empty OID
        bytes.fromhex("310D300B060A04007F00070202040202"),  # PACEInfo without version
        bytes.fromhex("3111300F060A04007F000702020402020205FFFFFFFFFF"[:-2]),
    ],
)
def test_malformed_is_parse_error(bad: bytes) -> None:
    with pytest.raises(ParseError):
        parse_security_infos(bad)


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_parse_error(raw: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_security_infos(raw)


@given(st.integers(0, 40), st.data())
def test_truncated_and_mutated_vector_raise_only_parse_error(cut: int, data: st.DataObject) -> None:
    raw = bytearray(h(PACE_V["ef_cardaccess"]))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] = data.draw(st.integers(0, 255))
    for candidate in (bytes(raw[:cut]), bytes(raw)):
        with contextlib.suppress(ParseError):
            parse_security_infos(candidate)
