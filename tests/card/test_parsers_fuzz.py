"""Every LDS parser, given hostile input — random bytes, truncations and one-byte mutations of valid
files — raises only ParseError (never another exception, never hangs); encoders round-trip."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.card.icao.document import EmrtdDocument
from netid.card.icao.lds import FID_COM, FID_DG, FID_SOD
from netid.card.icao.lds.com import encode_com, parse_com
from netid.card.icao.lds.dg1 import parse_dg1
from netid.card.icao.lds.dg2 import encode_dg2, parse_dg2
from netid.card.icao.lds.dg11 import TEXT_FIELDS, Dg11, encode_dg11, parse_dg11
from netid.card.icao.lds.dg14 import parse_dg14
from netid.card.icao.lds.dg15 import parse_dg15
from netid.card.icao.lds.sod import encode_sod, parse_sod
from netid.card.icao.mrz import parse_mrz
from netid.card.icao.passive_auth import verify_passive_authentication
from netid.errors import ParseError, PassiveAuthenticationError
from netid.personal_number import validate_personal_number
from netid.testing.cards import make_card, make_pki
from tests.card.test_sod import assert_translated_only_from_third_party, parse_sod_checked

TODAY = datetime.date(2026, 6, 1)
EC_CARD = make_card(21, today=TODAY, portrait_bytes=3000)
RSA_CARD = make_card(22, today=TODAY, algorithm="rsa-pss-2048", aa="rsa-1024", portrait_bytes=3000)

PARSERS: dict[str, tuple[Callable[[bytes], object], int]] = {
    "COM": (parse_com, FID_COM),
    "DG1": (parse_dg1, FID_DG[1]),
    "DG2": (parse_dg2, FID_DG[2]),
    "DG11": (parse_dg11, FID_DG[11]),
    "DG14": (parse_dg14, FID_DG[14]),
    "DG15": (parse_dg15, FID_DG[15]),
    # parse_sod translates asn1crypto's errors only: the oracle fails a test when a ParseError's cause was
    # raised by NetID's own code (see tests/card/test_sod.py)
    "SOD": (parse_sod_checked, FID_SOD),
}
CASES = [(name, card) for name in PARSERS for card in ("ec", "rsa")]


def _valid(name: str, card: str) -> bytes:
    image = (EC_CARD if card == "ec" else RSA_CARD).image
    return image.files[PARSERS[name][1]]


def _only_parse_error(parse: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse(data)


@pytest.mark.parametrize("name", list(PARSERS))
def test_valid_files_parse(name: str) -> None:
    for card in ("ec", "rsa"):
        PARSERS[name][0](_valid(name, card))


@pytest.mark.parametrize("name", list(PARSERS))
@given(raw=st.binary(max_size=300))
def test_random_bytes(name: str, raw: bytes) -> None:
    _only_parse_error(PARSERS[name][0], raw)


@pytest.mark.parametrize("name", list(PARSERS))
@given(raw=st.binary(max_size=120))
def test_random_bytes_behind_the_right_tag(name: str, raw: bytes) -> None:
    # random content inside the right outer tag gets past the first check
    tag = _valid(name, "ec")[:2] if _valid(name, "ec")[0] & 0x1F == 0x1F else _valid(name, "ec")[:1]
    _only_parse_error(PARSERS[name][0], tag + bytes([len(raw)]) + raw)


@pytest.mark.parametrize(("name", "card"), CASES)
@given(data=st.data())
def test_truncations(name: str, card: str, data: st.DataObject) -> None:
    valid = _valid(name, card)
    cut = data.draw(st.integers(0, len(valid) - 1))
    _only_parse_error(PARSERS[name][0], valid[:cut])


def _position(data: st.DataObject, size: int) -> int:
    # half the mutations hit the first 300 bytes, where the structure (not image data) lives
    return data.draw(st.one_of(st.integers(0, min(size, 300) - 1), st.integers(0, size - 1)))


@pytest.mark.parametrize(("name", "card"), CASES)
@given(data=st.data())
def test_single_byte_mutations(name: str, card: str, data: st.DataObject) -> None:
    raw = bytearray(_valid(name, card))
    pos = _position(data, len(raw))
    raw[pos] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]))
    _only_parse_error(PARSERS[name][0], bytes(raw))


@given(text=st.text(max_size=120))
def test_mrz_random_text(text: str) -> None:
    _only_parse_error(lambda _: parse_mrz(text), b"")


@given(text=st.text(alphabet="0123456789X<ABC\n", max_size=100))
def test_mrz_like_text(text: str) -> None:
    _only_parse_error(lambda _: parse_mrz(text), b"")


@given(text=st.text(max_size=30))
def test_personal_number_random_text(text: str) -> None:
    _only_parse_error(lambda _: validate_personal_number(text), b"")


@given(data=st.data())
def test_document_from_mutated_files(data: st.DataObject) -> None:
    card = data.draw(st.sampled_from([EC_CARD, RSA_CARD]))
    files = dict(card.image.files)
    fid = data.draw(st.sampled_from(sorted(files)))
    raw = bytearray(files[fid])
    if data.draw(st.booleans()):
        files[fid] = bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    else:
        pos = _position(data, len(raw))
        raw[pos] ^= data.draw(st.integers(1, 255))
        files[fid] = bytes(raw)
    _only_parse_error(lambda _: EmrtdDocument.from_files(files, today=TODAY), b"")


@given(raw=st.binary(max_size=300), fid=st.sampled_from([FID_COM, FID_SOD, *FID_DG.values()]))
def test_document_from_random_file(raw: bytes, fid: int) -> None:
    files = {**EC_CARD.image.files, fid: raw}
    _only_parse_error(lambda _: EmrtdDocument.from_files(files, today=TODAY), b"")


# --- round trips -----------------------------------------------------------------------------------

utf8_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(
    values=st.fixed_dictionaries({}, optional={name: utf8_text for name in TEXT_FIELDS}),
    dob=st.one_of(st.none(), st.dates(min_value=datetime.date(1000, 1, 1))),
    others=st.lists(utf8_text, max_size=3).map(tuple),
    proof=st.one_of(st.none(), st.binary(max_size=50)),
)
def test_dg11_round_trip(
    values: dict[str, str], dob: datetime.date | None, others: tuple[str, ...], proof: bytes | None
) -> None:
    details = Dg11(date_of_birth=dob, other_names=others, proof_of_citizenship=proof, **values)  # type: ignore[arg-type]
    assert parse_dg11(encode_dg11(details)) == details


@given(groups=st.lists(st.integers(1, 16), unique=True, max_size=16))
def test_com_round_trip(groups: list[int]) -> None:
    assert parse_com(encode_com(groups)).data_groups == tuple(groups)


@given(
    image=st.binary(min_size=1, max_size=2000), width=st.integers(0, 0xFFFF), height=st.integers(0, 0xFFFF)
)
def test_dg2_round_trip(image: bytes, width: int, height: int) -> None:
    face = parse_dg2(encode_dg2(image, width=width, height=height)).portrait
    assert (face.image, face.width, face.height) == (image, width, height)


@given(
    hashes=st.dictionaries(st.integers(1, 16), st.binary(min_size=32, max_size=32), min_size=1, max_size=16),
)
def test_sod_round_trip(hashes: dict[int, bytes]) -> None:
    pki = make_pki(0)
    sod = parse_sod(encode_sod(hashes, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key))
    assert sod.dg_hashes == hashes


@given(data=st.data())
def test_passive_authentication_of_mutated_files_raises_only_its_error(data: st.DataObject) -> None:
    card = data.draw(st.sampled_from([EC_CARD, RSA_CARD]))
    files = dict(card.image.files)
    fid = data.draw(st.sampled_from([FID_SOD, FID_SOD, FID_DG[1], FID_DG[15]]))
    raw = bytearray(files[fid])
    pos = _position(data, len(raw))
    raw[pos] ^= data.draw(st.integers(1, 255))
    files[fid] = bytes(raw)
    try:
        verify_passive_authentication(files, card.trust_store)
    except PassiveAuthenticationError as err:
        assert_translated_only_from_third_party(err)


@given(data=st.data())
def test_mrz_single_character_mutations(data: st.DataObject) -> None:
    text = EC_CARD.person.mrz()
    pos = data.draw(st.integers(0, len(text) - 1))
    ch = data.draw(st.sampled_from("0123456789ABCXYZ<\n é"))
    _only_parse_error(lambda _: parse_mrz(text[:pos] + ch + text[pos + 1 :]), b"")
