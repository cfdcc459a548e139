"""What a simulated chip holds: its files, secrets and capabilities.

The test kit (:mod:`netid.card.testkit`) builds a :class:`ChipImage` for a person; the simulator
(:mod:`netid.card.simulator`) runs the eMRTD application over it. Keeping the image as plain data lets a
test copy files from one chip to another (a clone) or corrupt one byte of one file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec, rsa

# File identifiers of the LDS1 eMRTD application (ICAO 9303-10 §4.6 and §3.11)
FID_CARD_ACCESS = 0x011C  # in the master file, readable without access control
FID_COM = 0x011E
FID_SOD = 0x011D
FID_DG = {n: 0x0100 + n for n in range(1, 17)}  # DG1 = 0x0101 ... DG16 = 0x0110

#: short file identifiers (READ BINARY with P1 = 0x80 | SFI)
SFI = {FID_CARD_ACCESS: 0x1C, FID_COM: 0x1E, FID_SOD: 0x1D} | {fid: n for n, fid in FID_DG.items()}

EMRTD_AID = bytes.fromhex("A0000002471001")

AAPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class ChipImage:
    """The contents and secrets of one eMRTD chip.

    ``files`` maps file identifiers (``FID_*``) to their exact bytes. ``mrz_information`` is the BAC key
    seed / PACE ``MRZ`` password; ``can`` the card access number. PACE is offered iff EF.CardAccess is
    present (its PACEInfo names the domain parameters); BAC iff ``bac_enabled``.
    """

    files: Mapping[int, bytes]
    mrz_information: str
    can: str | None = None
    aa_private_key: AAPrivateKey | None = None
    bac_enabled: bool = True
    #: the chip accepts extended-length APDUs (and says so in EF.ATR/INFO and its historical bytes)
    extended_length: bool = True
    #: the most bytes one READ BINARY returns (real chips cap short reads below 256 under SM)
    max_read_length: int = 0xE0
    historical_bytes: bytes = b"\x80\x31\x80\x65\xb0\x85\x03\x00\xef\x12\x0f\xff\x82\x90\x00"
    #: free-form notes the test kit records (never personal data)
    labels: Mapping[str, str] = field(default_factory=dict)

    def with_file(self, fid: int, content: bytes) -> ChipImage:
        """A copy with one file replaced (tampering, clones)."""
        return dataclasses.replace(self, files={**self.files, fid: content})

    def replace(self, **changes: object) -> ChipImage:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
