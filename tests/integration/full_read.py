"""The full eMRTD read shared by the real-stack tests: a test-kit card on the chip simulator, read by the
ICAO driver, checked with passive and active authentication."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

CHALLENGE = bytes.fromhex("4e657449445f4141")
LOSE_AFTER = 10  # APDUs: past access control, in the middle of the file reads


#: ISO 7816-4 compact TLV: card capabilities (tag 7) announcing extended Lc/Le, then the status indicator
EXTENDED_HISTORICAL_BYTES = bytes.fromhex("80" + "730000C0" + "829000")


def make_test_card(protocol: str) -> Any:
    """A test-kit card offering PACE (and BAC), or BAC only.

    The BAC-only chip has no EF.CardAccess to probe extended length with, so it announces it in its
    historical bytes (in the ATS over nfcpy, in the pseudo-ATR 3B 8n 80 01 ... over PC/SC)."""
    testkit = pytest.importorskip("netid.testing.cards")
    if protocol == "PACE":
        return testkit.make_card(seed=5)
    card = testkit.make_card(seed=5, pace_parameter_ids=())
    return dataclasses.replace(card, image=card.image.replace(historical_bytes=EXTENDED_HISTORICAL_BYTES))


def chip(card: Any, *, lose_after: int | None = None) -> Any:
    from netid.card.simulator import Faults, SimulatedCard

    return SimulatedCard(card.image, faults=Faults(tag_lost_after=lose_after))


def check_readout(readout: Any, card: Any, protocol: str) -> None:
    from netid.card.icao.aa import verify_active_authentication
    from netid.card.icao.lds import FID_DG
    from netid.card.icao.lds.dg15 import parse_dg15
    from netid.card.icao.passive_auth import verify_passive_authentication

    assert readout.access_protocol == protocol
    assert {1, 2, 11, 15} <= {fid - 0x0100 for fid in readout.files}
    for fid, data in readout.files.items():
        assert data == card.image.files[fid]
    verify_passive_authentication(readout.files, card.trust_store)
    assert readout.aa_signature is not None
    dg15 = parse_dg15(readout.files[FID_DG[15]])
    verify_active_authentication(dg15.public_key_info, CHALLENGE, readout.aa_signature)
