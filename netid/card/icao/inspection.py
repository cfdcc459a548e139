"""Document inspection: turn what was read from a chip into a verified document, or say exactly why not.

This is the one step an issuer (or a kiosk) runs after :func:`~netid.card.icao.read.read_document`:
passive authentication (the data is what the issuing state signed) and active authentication (this chip,
holding the DG15 private key, answered *our* challenge now: the data was not copied onto another chip).
Pure: no I/O, the clock is a parameter.

>>> from netid.card.testkit import make_card
>>> from netid.card.simulator import SimulatedCard, SimulatorReader
>>> from netid.card.icao.read import read_document
>>> card = make_card(seed=3)
>>> readout = read_document(SimulatorReader(SimulatedCard(card.image)).connect(), card.access_key,
...                         aa_challenge=bytes(8))
>>> verified = verify_document(readout, card.trust_store)
>>> verified.chip_auth, verified.passive.data_groups
('aa', (1, 2, 11, 14, 15))
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

from netid.card.icao.aa import ECDSA_HASHES, verify_active_authentication
from netid.card.icao.document import EmrtdDocument
from netid.card.icao.passive_auth import CscaTrustStore, PassiveAuthResult, verify_passive_authentication
from netid.card.icao.read import CardReadout
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
    at: datetime.datetime | None = None,
    require_active_authentication: bool = True,
) -> VerifiedDocument:
    """Passive then active authentication of ``readout``.

    Raises :class:`~netid.errors.PassiveAuthenticationError` (``check`` names the failed step,
    ``data_group`` the data group) or :class:`~netid.errors.ActiveAuthenticationError` (no answer to the
    challenge when one is required, or a signature that does not verify: a cloned chip). Passive
    authentication runs first so that a failed AA is never reported for data that is forged anyway.
    """
    passive = verify_passive_authentication(readout.files, trust_store, at=at)
    try:
        document = EmrtdDocument.from_files(
            readout.files, today=(at or datetime.datetime.now(datetime.UTC)).date()
        )
    except ParseError as exc:
        # the hashes matched, so the issuing state signed data we cannot parse: report it as PA's format
        raise PassiveAuthenticationError("sod_format", f"signed data could not be parsed: {exc}") from None

    if document.aa_public_key_info is None or readout.aa_signature is None or readout.aa_challenge is None:
        if require_active_authentication:
            raise ActiveAuthenticationError(
                "the chip did not perform active authentication (no DG15 key or no answer to the challenge)"
            )
        return VerifiedDocument(document, passive, "pa-only", readout.access_protocol)

    hash_algorithm = None
    infos = document.security_infos
    if infos is not None and infos.active_authentication is not None:
        hash_algorithm = ECDSA_HASHES.get(infos.active_authentication.signature_algorithm_oid)
        if hash_algorithm is None:
            raise ActiveAuthenticationError("DG14 names an active authentication algorithm we do not accept")
    verify_active_authentication(
        document.aa_public_key_info, readout.aa_challenge, readout.aa_signature, hash_algorithm=hash_algorithm
    )
    return VerifiedDocument(document, passive, "aa", readout.access_protocol)
