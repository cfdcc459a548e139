"""verify_document: the AA answer must be to the caller's challenge, and EF.COM cannot downgrade AA."""

from __future__ import annotations

import inspect

import pytest

from netid.card import tlv
from netid.card.icao.lds import FID_COM, FID_DG
from netid.card.icao.read_document import CardReadout, read_document
from netid.card.icao.verify_document import verify_document
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.card.simulator.image import ChipImage
from netid.errors import ActiveAuthenticationError
from netid.testing.cards import TestCard, clone_chip, make_card

CHALLENGE = bytes.fromhex("0F1E2D3C4B5A6978")
OTHER = bytes.fromhex("8877665544332211")


def _read(image: ChipImage, card: TestCard, challenge: bytes | None = CHALLENGE) -> CardReadout:
    return read_document(
        SimulatorReader(SimulatedCard(image)).connect(), card.access_key, aa_challenge=challenge
    )


def _com_without_dg15(com: bytes) -> bytes:
    """EF.COM (unsigned) rewritten by a cloner: DG15's tag 6F dropped from the tag list."""
    outer = tlv.decode_single(com, 0x60)
    tags = bytes(t for t in outer.child(0x5C).value if t != 0x6F)
    return tlv.encode(
        0x60,
        [
            tlv.encode(0x5F01, outer.child(0x5F01).value),
            tlv.encode(0x5F36, outer.child(0x5F36).value),
            tlv.encode(0x5C, tags),
        ],
    )


def test_challenge_is_keyword_only_and_required() -> None:
    parameter = inspect.signature(verify_document).parameters["challenge"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is inspect.Parameter.empty


@pytest.mark.parametrize("aa", ["ecdsa-p256", "rsa-1024"])
def test_answer_to_our_challenge_verifies(aa: str) -> None:
    card = make_card(21, aa=aa)
    readout = _read(card.image, card)
    assert verify_document(readout, card.trust_store, challenge=CHALLENGE).chip_auth == "aa"
    # None: offline re-verification of a stored readout against its own challenge
    assert verify_document(readout, card.trust_store, challenge=None).chip_auth == "aa"


def test_replayed_transcript_is_refused() -> None:
    card = make_card(22)
    old = _read(card.image, card, challenge=OTHER)  # recorded earlier from the genuine chip
    # a clone plays back the old challenge and the genuine signature; we had asked for CHALLENGE
    with pytest.raises(ActiveAuthenticationError, match="not to our challenge"):
        verify_document(old, card.trust_store, challenge=CHALLENGE)


def test_challenge_given_but_no_answer_is_refused() -> None:
    card = make_card(23)
    unanswered = _read(card.image, card, challenge=None)
    with pytest.raises(ActiveAuthenticationError):
        verify_document(unanswered, card.trust_store, challenge=CHALLENGE)


def test_clone_hiding_dg15_in_ef_com_still_meets_aa() -> None:
    card = make_card(24)
    clone = clone_chip(card.image).with_file(FID_COM, _com_without_dg15(card.image.files[FID_COM]))
    readout = _read(clone, card)
    assert FID_DG[15] in readout.files and readout.aa_signature is not None  # read although not listed
    with pytest.raises(ActiveAuthenticationError):
        verify_document(readout, card.trust_store, challenge=CHALLENGE, require_active_authentication=False)


def test_genuine_chip_with_dg15_unlisted_in_ef_com_verifies_with_aa() -> None:
    card = make_card(25)
    image = card.image.with_file(FID_COM, _com_without_dg15(card.image.files[FID_COM]))
    verified = verify_document(
        _read(image, card), card.trust_store, challenge=CHALLENGE, require_active_authentication=False
    )
    assert verified.chip_auth == "aa"


def test_clone_without_dg15_is_not_pa_only_when_the_sod_lists_it() -> None:
    card = make_card(26)
    files = {fid: data for fid, data in card.image.files.items() if fid != FID_DG[15]}
    files[FID_COM] = _com_without_dg15(card.image.files[FID_COM])
    clone = card.image.replace(files=files, aa_private_key=None)
    readout = _read(clone, card)
    assert FID_DG[15] not in readout.files
    with pytest.raises(ActiveAuthenticationError, match="DG15"):
        verify_document(readout, card.trust_store, challenge=CHALLENGE, require_active_authentication=False)


def test_pa_only_when_the_sod_has_no_dg15() -> None:
    card = make_card(27, aa=None)
    readout = _read(card.image, card)
    verified = verify_document(
        readout, card.trust_store, challenge=CHALLENGE, require_active_authentication=False
    )
    assert verified.chip_auth == "pa-only"
    with pytest.raises(ActiveAuthenticationError):
        verify_document(readout, card.trust_store, challenge=CHALLENGE)
