"""LDS1 elementary files (ICAO 9303-10 §4.6-4.7): parsers from bytes and encoders, no I/O.

Each module handles one file: :mod:`.com` (EF.COM), :mod:`.dg1` (MRZ), :mod:`.dg2` (portrait),
:mod:`.dg11` (additional personal details), :mod:`.dg14` (SecurityInfos), :mod:`.dg15` (active
authentication public key) and :mod:`.sod` (the document security object). Every ``parse_*`` takes
untrusted bytes and raises only :class:`~netid.errors.ParseError`.
"""

from __future__ import annotations

#: the outer tag of each data group (ICAO 9303-10 table 34) → its number
DG_TAGS: dict[int, int] = {
    0x61: 1,
    0x75: 2,
    0x63: 3,
    0x76: 4,
    0x65: 5,
    0x66: 6,
    0x67: 7,
    0x68: 8,
    0x69: 9,
    0x6A: 10,
    0x6B: 11,
    0x6C: 12,
    0x6D: 13,
    0x6E: 14,
    0x6F: 15,
    0x70: 16,
}
#: data group number → its outer tag
DG_TAG_BY_NUMBER: dict[int, int] = {n: t for t, n in DG_TAGS.items()}
TAG_COM = 0x60
TAG_SOD = 0x77

#: the LDS1 eMRTD application identifier (ICAO 9303-10 §3.11.4)
EMRTD_AID = bytes.fromhex("A0000002471001")

# File identifiers (ICAO 9303-10 §4.6): EF.CardAccess lives in the master file and is readable before
# access control; the others are inside the eMRTD application.
FID_CARD_ACCESS = 0x011C
FID_COM = 0x011E
FID_SOD = 0x011D
FID_DG: dict[int, int] = {n: 0x0100 + n for n in range(1, 17)}  # DG1 = 0x0101 ... DG16 = 0x0110

#: short file identifiers, for READ BINARY with P1 = 0x80 | SFI
SFI: dict[int, int] = {FID_CARD_ACCESS: 0x1C, FID_COM: 0x1E, FID_SOD: 0x1D} | {
    fid: n for n, fid in FID_DG.items()
}
