"""What a simulated chip holds: its files, secrets and capabilities.

The test kit (:mod:`netid.testing.cards`) builds a :class:`ChipImage` for a person; the simulator
(:mod:`netid.card.simulator`) runs the eMRTD application over it. Keeping the image as plain data lets a
test copy files from one chip to another (a clone) or corrupt one byte of one file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from netid.card.icao.aa import AAPrivateKey


@dataclass(frozen=True, repr=False)
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

    def __repr__(self) -> str:
        # the files hold the personal number and the MRZ; mrz_information and can are access secrets
        files = ", ".join(f"{fid:04X}:{len(data)}B" for fid, data in sorted(self.files.items()))
        return (
            f"ChipImage(files=[{files}], pace={0x011C in self.files}, bac={self.bac_enabled}, "
            f"aa={type(self.aa_private_key).__name__ if self.aa_private_key else None}, "
            f"extended_length={self.extended_length})"
        )

    def with_file(self, fid: int, content: bytes) -> ChipImage:
        """A copy with one file replaced (tampering, clones)."""
        return dataclasses.replace(self, files={**self.files, fid: content})

    def replace(self, **changes: object) -> ChipImage:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
