"""Access keys for BAC and PACE: the MRZ data printed on the card, or the card access number (CAN).

The key seed is derived from the *MRZ information*: document number, date of birth and date of expiry,
each followed by its ICAO 9303-3 check digit (part 11 §4.3.1, §9.7.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netid.errors import UsageError

_CHAR_VALUES = {str(d): d for d in range(10)} | {chr(ord("A") + i): 10 + i for i in range(26)} | {"<": 0}
_WEIGHTS = (7, 3, 1)


def icao_check_digit(field: str) -> str:
    """The ICAO 9303-3 check digit (weights 7, 3, 1 modulo 10) of an MRZ field."""
    total = 0
    for i, ch in enumerate(field):
        try:
            total += _CHAR_VALUES[ch] * _WEIGHTS[i % 3]
        except KeyError:
            raise UsageError(f"character {ch!r} is not allowed in an MRZ field") from None
    return str(total % 10)


_DATE = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True, slots=True, repr=False)
class MrzAccessKey:
    """Access from the MRZ: document number, birth date and expiry date as printed (YYMMDD).

    ``repr`` shows only the first two characters of the document number: the rest is the access secret.
    """

    document_number: str
    date_of_birth: str
    date_of_expiry: str

    def __repr__(self) -> str:
        return f"MrzAccessKey(document_number={self.document_number[:2] + '***'!r})"

    def __post_init__(self) -> None:
        if not self.document_number or not re.fullmatch(r"[0-9A-Z<]+", self.document_number):
            raise UsageError("document number must be MRZ characters (0-9, A-Z, <)")
        for name in ("date_of_birth", "date_of_expiry"):
            if not _DATE.match(getattr(self, name)):
                raise UsageError(f"{name} must be YYMMDD")

    @property
    def mrz_information(self) -> str:
        """Document number (padded to 9) + check digit, birth date + check digit, expiry + check digit."""
        number = self.document_number
        if len(number) < 9:
            number = number.ljust(9, "<")
        return (
            number
            + icao_check_digit(number)
            + self.date_of_birth
            + icao_check_digit(self.date_of_birth)
            + self.date_of_expiry
            + icao_check_digit(self.date_of_expiry)
        )

    @property
    def password(self) -> bytes:
        """The secret both BAC (key seed) and PACE (password ``MRZ``) start from."""
        return self.mrz_information.encode("ascii")


@dataclass(frozen=True, slots=True, repr=False)
class CanAccessKey:
    """Access from the card access number printed on the card (PACE only). ``repr`` masks the CAN."""

    can: str

    def __repr__(self) -> str:
        return "CanAccessKey(can='******')"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9]{6}", self.can):
            raise UsageError("CAN must be 6 digits")

    @property
    def password(self) -> bytes:
        return self.can.encode("ascii")


AccessKey = MrzAccessKey | CanAccessKey
