"""The 18-character Chinese citizen identity number (GB 11643-1999) carried in DG11 (tag 5F10).

Layout: 6-digit administrative region code (province 2 + city 2 + county 2), 8-digit birth date
YYYYMMDD, 3-digit sequence code (odd for men, even for women) and one ISO 7064 MOD 11-2 check character
(``0``-``9`` or ``X``). The number is personal data: never log it; see
:func:`mask_personal_number` for the form NetID shows in ``repr`` and logs.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from netid.errors import ParseError, UsageError

__all__ = [
    "PersonalNumber",
    "is_valid_personal_number",
    "mask_personal_number",
    "personal_number_check_char",
    "validate_personal_number",
]

_WHAT = "personal number"
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# ISO 7064 MOD 11-2: weight of position i (1-based from the left, of 17) is 2**(18-i) mod 11
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"  # check character for (weighted sum mod 11) = 0, 1, 2, ...


def personal_number_check_char(first17: str) -> str:
    """The MOD 11-2 check character (``0``-``9`` or ``X``) of the first 17 digits."""
    if not re.fullmatch(r"[0-9]{17}", first17):
        raise UsageError("need exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


@dataclass(frozen=True, slots=True)
class PersonalNumber:
    """A validated personal number and the facts its structure encodes."""

    value: str

    @property
    def region_code(self) -> str:
        """County-level administrative division code, e.g. ``"110105"``."""
        return self.value[:6]

    @property
    def province_code(self) -> str:
        return self.value[:2]

    @property
    def city_code(self) -> str:
        return self.value[:4]

    @property
    def date_of_birth(self) -> datetime.date:
        v = self.value
        return datetime.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))

    @property
    def sequence_code(self) -> str:
        return self.value[14:17]

    @property
    def sex(self) -> str:
        """``"M"`` if the sequence code is odd, ``"F"`` if even (the MRZ's sex codes)."""
        return "M" if int(self.value[16]) % 2 else "F"

    @property
    def masked(self) -> str:
        return mask_personal_number(self.value)

    def __repr__(self) -> str:  # never print the number itself
        return f"PersonalNumber({self.masked!r})"

    __str__ = __repr__


def validate_personal_number(s: str) -> PersonalNumber:
    """Check shape, birth date and check character; raise :class:`ParseError` if any is wrong.

    A lowercase ``x`` is accepted and normalised to ``X``. Error messages never echo the number.
    """
    if not isinstance(s, str):
        raise ParseError(_WHAT, "not a string")
    value = s.upper()
    if not _SHAPE.fullmatch(value):
        raise ParseError(_WHAT, "must be 17 digits and a check character (0-9 or X)")
    try:
        datetime.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ParseError(_WHAT, "birth date is not a calendar date") from None
    if personal_number_check_char(value[:17]) != value[17]:
        raise ParseError(_WHAT, "check character does not match")
    return PersonalNumber(value)


def is_valid_personal_number(s: str) -> bool:
    try:
        validate_personal_number(s)
    except ParseError:
        return False
    return True


def mask_personal_number(s: str) -> str:
    """Keep the 6-digit region code (coarse, and itself a disclosable claim) and mask the rest.

    The birth date, sequence code and check character are all hidden, and the length is kept so a log
    reader still sees it was an 18-character number: ``"110105************"``. Input that is not
    18 characters is masked entirely.
    """
    if len(s) != 18:
        return "*" * len(s)
    return s[:6] + "*" * 12


def age_on(date_of_birth: datetime.date, day: datetime.date) -> int:
    """Completed years of age on ``day`` (a 29 February birthday completes on 1 March in common years)."""
    before_birthday = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - int(before_birthday)
