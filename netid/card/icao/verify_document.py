"""Document inspection: turn what was read from a chip into a verified document, or say exactly why not.

This is the one step an issuer (or a kiosk) runs after :func:`~netid.card.icao.read_document.read_document`:
passive authentication (the data is what the issuing state signed) and active authentication (this chip,
holding the DG15 private key, answered *our* challenge now: the data was not copied onto another chip).
Pure: no I/O, the clock is a parameter.

>>> from netid.testing.cards import make_card
>>> from netid.card.simulator import SimulatedCard, SimulatorReader
>>> from netid.card.icao.read_document import read_document
>>> card = make_card(seed=3)
>>> challenge = bytes(8)  # in real use: os.urandom(8), chosen by whoever verifies
>>> readout = read_document(SimulatorReader(SimulatedCard(card.image)).connect(), card.access_key,
...                         aa_challenge=challenge)
>>> verified = verify_document(readout, card.trust_store, challenge=challenge)
>>> verified.chip_auth, verified.passive.data_groups
('aa', (1, 2, 11, 14, 15))
"""

from __future__ import annotations

import datetime
import hmac
from dataclasses import dataclass
from typing import Literal

from netid.card.icao.aa import ECDSA_HASHES, verify_active_authentication
from netid.card.icao.document import EmrtdDocument
from netid.card.icao.lds import FID_DG
from netid.card.icao.passive_auth import CscaTrustStore, PassiveAuthResult, verify_passive_authentication
from netid.card.icao.read_document import CardReadout
from netid.errors import ActiveAuthenticationError, ParseError, PassiveAuthenticationError

ChipAuth = Literal["aa", "pa-only"]


@dataclass(frozen=True)
class VerifiedDocument:
    """A document whose data passed passive authentication, and whose chip passed active authentication
    when ``chip_auth == "aa"``. ``repr`` masks the personal number (via :class:`EmrtdDocument`)."""

    document: EmrtdDocument
    passive: PassiveAuthResult
    chip_auth: ChipAuth
    access_protocol: str


def verify_document(
    readout: CardReadout,
    trust_store: CscaTrustStore,
    *,
    challenge: bytes | None,
    at: datetime.datetime | None = None,
    require_active_authentication: bool = True,
) -> VerifiedDocument:
    """Passive then active authentication of ``readout``.

    ``challenge`` (required, keyword-only) is the AA challenge *the caller* chose and gave to the read: the
    chip's answer must be to exactly that challenge, else a replayed transcript (an old challenge and the
    genuine chip's old signature, played back by a clone) would pass. ``None`` accepts the challenge stored
    in the readout: only for re-verifying a stored readout offline (diagnostics, audit), never for
    enrollment or any decision that the chip is present now.

    Active authentication is required when ``require_active_authentication`` is set, and always when the
    signed EF.SOD lists DG15 (ICAO 9303-11 §6.1): EF.COM is unsigned, so a clone could hide DG15 there to
    be verified as ``pa-only``.

    Raises :class:`~netid.errors.PassiveAuthenticationError` (``check`` names the failed step,
    ``data_group`` the data group) or :class:`~netid.errors.ActiveAuthenticationError` (no answer to the
    challenge when one is required, or a signature that does not verify: a cloned chip). Passive
    authentication runs first so that a failed AA is never reported for data that is forged anyway.
    """
    passive = verify_passive_authentication(readout.files, trust_store, at=at)
    try:
        # the SOD as passive authentication parsed it: parsing its CMS and certificates a second time
        # only repeated the work (a third of this function's time)
        document = EmrtdDocument.from_files(
            readout.files,
            today=(at or datetime.datetime.now(datetime.UTC)).date(),
            sod=passive.security_object,
        )
    except ParseError as exc:
        # the hashes matched, so the issuing state signed data we cannot parse: report it as PA's format
        raise PassiveAuthenticationError("sod_format", f"signed data could not be parsed: {exc}") from None

    # the SOD is signed: when it lists DG15 the chip has an AA key, whatever the unsigned EF.COM says
    sod_lists_dg15 = 15 in passive.security_object.dg_hashes
    if sod_lists_dg15 and FID_DG[15] not in readout.files:
        raise ActiveAuthenticationError(
            "EF.SOD lists DG15 but DG15 was not read: active authentication is required"
        )
    if document.aa_public_key_info is None or readout.aa_signature is None:
        if require_active_authentication or sod_lists_dg15:
            raise ActiveAuthenticationError(
                "the chip did not perform active authentication (no DG15 key or no answer to the challenge)"
            )
        return VerifiedDocument(document, passive, "pa-only", readout.access_protocol)
    expected = readout.aa_challenge if challenge is None else challenge
    if (
        readout.aa_challenge is None
        or expected is None
        or not hmac.compare_digest(expected, readout.aa_challenge)
    ):
        raise ActiveAuthenticationError("the chip's answer is not to our challenge")

    hash_algorithm = None
    infos = document.security_infos
    if infos is not None and infos.active_authentication is not None:
        hash_algorithm = ECDSA_HASHES.get(infos.active_authentication.signature_algorithm_oid)
        if hash_algorithm is None:
            raise ActiveAuthenticationError("DG14 names an active authentication algorithm we do not accept")
    verify_active_authentication(
        document.aa_public_key_info, expected, readout.aa_signature, hash_algorithm=hash_algorithm
    )
    return VerifiedDocument(document, passive, "aa", readout.access_protocol)
