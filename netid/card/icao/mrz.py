"""Machine readable zone (ICAO 9303-4 TD3 passports, 9303-5 TD1 ID cards): parse and encode.

:func:`parse_mrz` takes untrusted text (as OCR'd from the card or read from DG1) and verifies every check
digit, raising :class:`~netid.errors.ParseError` naming the field whose check digit fails. Dates stay in
the MRZ's ``YYMMDD`` form here; turning them into calendar dates needs a century rule, which
:mod:`netid.card.icao.document` applies with better sources (DG11, the personal number) at hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from netid.card.icao.access import MrzAccessKey, icao_check_digit
from netid.errors import ParseError, UsageError

__all__ = ["Mrz", "MrzFormat", "encode_td1", "encode_td3", "mrz_name_component", "parse_mrz"]

_WHAT = "MRZ"
_MRZ_CHARS = re.compile(r"[0-9A-Z<]*")
_DATE = re.compile(r"[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])")
_SEX = frozenset("MFX<")

TD1_LINE = 30
TD3_LINE = 44

MrzFormat = Literal["TD1", "TD3"]


@dataclass(frozen=True, slots=True)
class Mrz:
    """A parsed MRZ. Text fields keep their ``<`` fillers stripped at the end; dates are ``YYMMDD``.

    ``optional_data`` is line 1's optional field (TD1) or the personal number field (TD3);
    ``optional_data_2`` is TD1 line 2's optional field (empty for TD3).
    """

    format: MrzFormat
    document_code: str
    issuing_state: str
    document_number: str
    date_of_birth: str
    sex: str
    date_of_expiry: str
    nationality: str
    surname: str
    given_names: str
    optional_data: str = ""
    optional_data_2: str = ""

    @property
    def name_field(self) -> str:
        """``SURNAME<<GIVEN<NAMES`` as printed (without trailing fillers)."""
        return _name_field(self.surname, self.given_names)

    @property
    def access_key(self) -> MrzAccessKey:
        """The BAC/PACE access key this MRZ prints."""
        return MrzAccessKey(self.document_number, self.date_of_birth, self.date_of_expiry)

    def lines(self) -> tuple[str, ...]:
        """Re-encode (check digits recomputed) as its 3 (TD1) or 2 (TD3) lines."""
        if self.format == "TD1":
            text = encode_td1(
                document_code=self.document_code,
                issuing_state=self.issuing_state,
                document_number=self.document_number,
                date_of_birth=self.date_of_birth,
                sex=self.sex,
                date_of_expiry=self.date_of_expiry,
                nationality=self.nationality,
                surname=self.surname,
                given_names=self.given_names,
                optional_data=self.optional_data,
                optional_data_2=self.optional_data_2,
            )
        else:
            text = encode_td3(
                document_code=self.document_code,
                issuing_state=self.issuing_state,
                document_number=self.document_number,
                date_of_birth=self.date_of_birth,
                sex=self.sex,
                date_of_expiry=self.date_of_expiry,
                nationality=self.nationality,
                surname=self.surname,
                given_names=self.given_names,
                personal_number=self.optional_data,
            )
        return tuple(text.split("\n"))

    def to_text(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        # the MRZ is personal data (name, birth date, the access key): keep it out of logs
        return (
            f"Mrz(format={self.format!r}, document_code={self.document_code!r}, "
            f"issuing_state={self.issuing_state!r})"
        )


# --- helpers -----------------------------------------------------------------------------------------


def _strip(field: str) -> str:
    return field.rstrip("<")


def _pad(value: str, length: int, what: str) -> str:
    if len(value) > length:
        raise UsageError(f"{what} is longer than {length} characters")
    if not _MRZ_CHARS.fullmatch(value):
        raise UsageError(f"{what} must use only 0-9, A-Z and <")
    return value.ljust(length, "<")


def mrz_name_component(name: str) -> str:
    """Prepare a transliterated name (e.g. pinyin ``"XIAO MING"``) for the MRZ: uppercase, spaces,
    hyphens and apostrophes become ``<``. Raises :class:`UsageError` for characters outside A-Z."""
    out = re.sub(r"[ \-']", "<", name.strip().upper())
    if not re.fullmatch(r"[A-Z<]*", out):
        raise UsageError("MRZ names must be transliterated to A-Z first")
    return out


def _name_field(surname: str, given_names: str) -> str:
    primary = mrz_name_component(surname)
    secondary = mrz_name_component(given_names)
    return f"{primary}<<{secondary}" if secondary else primary


def _fit_name(surname: str, given_names: str, length: int) -> str:
    # ICAO 9303-3 §4.6 truncation: shorten the secondary identifier first; keep at least its initial
    field = _name_field(surname, given_names)
    if len(field) <= length:
        return field.ljust(length, "<")
    primary = mrz_name_component(surname)
    if len(primary) + 3 > length:
        return primary[:length]
    return (primary + "<<" + mrz_name_component(given_names))[:length]


def _split_name(field: str) -> tuple[str, str]:
    body = field.rstrip("<")
    primary, sep, secondary = body.partition("<<")
    return primary.replace("<", " ").strip(), secondary.replace("<", " ").strip() if sep else ""


def _check_date(value: str, field: str) -> None:
    if not _DATE.fullmatch(value):
        raise ParseError(_WHAT, f"{field} is not a YYMMDD date")


def _verify(value: str, check: str, field: str) -> None:
    if icao_check_digit(value) != check:
        raise ParseError(_WHAT, f"check digit of {field} does not match")


# --- parse --------------------------------------------------------------------------------------------


def _split_lines(text: str) -> list[str]:
    if not isinstance(text, str):
        raise ParseError(_WHAT, "not text")
    if len(text) > 4 * TD3_LINE:  # bounded work before any regex on hostile input
        raise ParseError(_WHAT, "too long for an MRZ")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) == 1:
        flat = lines[0]
        if len(flat) == 3 * TD1_LINE:
            return [flat[i : i + TD1_LINE] for i in range(0, 90, TD1_LINE)]
        if len(flat) == 2 * TD3_LINE:
            return [flat[:TD3_LINE], flat[TD3_LINE:]]
    return lines


def parse_mrz(text: str) -> Mrz:
    """Parse a TD1 (3×30) or TD3 (2×44) MRZ, separated by newlines or concatenated as in DG1."""
    lines = _split_lines(text)
    for ln in lines:
        if not _MRZ_CHARS.fullmatch(ln):
            raise ParseError(_WHAT, "characters outside 0-9, A-Z and <")
    if len(lines) == 3 and all(len(ln) == TD1_LINE for ln in lines):
        return _parse_td1(lines)
    if len(lines) == 2 and all(len(ln) == TD3_LINE for ln in lines):
        return _parse_td3(lines)
    raise ParseError(_WHAT, "neither TD1 (3 lines of 30) nor TD3 (2 lines of 44)")


def _parse_td1(lines: list[str]) -> Mrz:
    l1, l2, l3 = lines
    number_field, number_check, optional = l1[5:14], l1[14], l1[15:30]
    if number_check == "<" and _strip(number_field) == number_field:
        # ICAO 9303-5 §4.2.2 note j: a number longer than 9 continues in the optional data, followed
        # by its check digit and a filler
        rest = _strip(optional)
        if len(rest) < 2:
            raise ParseError(_WHAT, "long document number lacks its check digit")
        number_field, number_check = number_field + rest[:-1], rest[-1]
        optional = ""
    _verify(number_field, number_check, "document_number")
    dob, dob_check, sex, expiry, expiry_check = l2[0:6], l2[6], l2[7], l2[8:14], l2[14]
    _check_date(dob, "date_of_birth")
    _verify(dob, dob_check, "date_of_birth")
    _check_date(expiry, "date_of_expiry")
    _verify(expiry, expiry_check, "date_of_expiry")
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    _verify(composite, l2[29], "composite")
    if sex not in _SEX:
        raise ParseError(_WHAT, "sex is not M, F, X or <")
    surname, given = _split_name(l3)
    number = _strip(number_field)
    if not number:
        raise ParseError(_WHAT, "empty document number")
    return Mrz(
        format="TD1",
        document_code=_strip(l1[0:2]),
        issuing_state=_strip(l1[2:5]),
        document_number=number,
        date_of_birth=dob,
        sex=sex,
        date_of_expiry=expiry,
        nationality=_strip(l2[15:18]),
        surname=surname,
        given_names=given,
        optional_data=_strip(optional),
        optional_data_2=_strip(l2[18:29]),
    )


def _parse_td3(lines: list[str]) -> Mrz:
    l1, l2 = lines
    _verify(l2[0:9], l2[9], "document_number")
    dob, expiry = l2[13:19], l2[21:27]
    _check_date(dob, "date_of_birth")
    _verify(dob, l2[19], "date_of_birth")
    _check_date(expiry, "date_of_expiry")
    _verify(expiry, l2[27], "date_of_expiry")
    personal, personal_check = l2[28:42], l2[42]
    # the personal number check digit may be a filler when the field is empty (9303-4 §4.2.2)
    if not (personal_check == "<" and _strip(personal) == ""):
        _verify(personal, personal_check, "personal_number")
    _verify(l2[0:10] + l2[13:20] + l2[21:43], l2[43], "composite")
    if l2[20] not in _SEX:
        raise ParseError(_WHAT, "sex is not M, F, X or <")
    surname, given = _split_name(l1[5:44])
    number = _strip(l2[0:9])
    if not number:
        raise ParseError(_WHAT, "empty document number")
    return Mrz(
        format="TD3",
        document_code=_strip(l1[0:2]),
        issuing_state=_strip(l1[2:5]),
        document_number=number,
        date_of_birth=dob,
        sex=l2[20],
        date_of_expiry=expiry,
        nationality=_strip(l2[10:13]),
        surname=surname,
        given_names=given,
        optional_data=_strip(personal),
    )


# --- encode -------------------------------------------------------------------------------------------


def _check_encode_args(date_of_birth: str, date_of_expiry: str, sex: str) -> None:
    for name, value in (("date_of_birth", date_of_birth), ("date_of_expiry", date_of_expiry)):
        if not _DATE.fullmatch(value):
            raise UsageError(f"{name} must be YYMMDD")
    if sex not in _SEX:
        raise UsageError("sex must be M, F, X or <")


def encode_td1(
    *,
    document_number: str,
    date_of_birth: str,
    sex: str,
    date_of_expiry: str,
    surname: str,
    given_names: str,
    issuing_state: str = "CHN",
    nationality: str = "CHN",
    document_code: str = "ID",
    optional_data: str = "",
    optional_data_2: str = "",
) -> str:
    """The three 30-character lines of an ID-card MRZ, joined by ``"\\n"``.

    Names are transliterated Latin (pinyin for Chinese names, e.g. ``surname="ZHANG"``,
    ``given_names="XIAOMING"``) and become ``ZHANG<<XIAOMING``. A document number longer than 9
    characters continues in the optional data (ICAO 9303-5), which must then be empty.
    """
    _check_encode_args(date_of_birth, date_of_expiry, sex)
    if not document_number or not _MRZ_CHARS.fullmatch(document_number):
        raise UsageError("document number must be MRZ characters")
    if len(document_number) <= 9:
        number_part = _pad(document_number, 9, "document number") + icao_check_digit(
            _pad(document_number, 9, "document number")
        )
        opt1 = _pad(optional_data, 15, "optional data")
    else:
        if optional_data:
            raise UsageError("a document number longer than 9 leaves no room for optional data")
        number_part = document_number[:9] + "<"
        opt1 = _pad(document_number[9:] + icao_check_digit(document_number), 15, "document number")
    line1 = _pad(document_code, 2, "document code") + _pad(issuing_state, 3, "issuing state")
    line1 += number_part + opt1
    line2 = (
        date_of_birth
        + icao_check_digit(date_of_birth)
        + sex
        + date_of_expiry
        + icao_check_digit(date_of_expiry)
        + _pad(nationality, 3, "nationality")
        + _pad(optional_data_2, 11, "optional data 2")
    )
    line2 += icao_check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    line3 = _fit_name(surname, given_names, TD1_LINE)
    return "\n".join((line1, line2, line3))


def encode_td3(
    *,
    document_number: str,
    date_of_birth: str,
    sex: str,
    date_of_expiry: str,
    surname: str,
    given_names: str,
    issuing_state: str = "CHN",
    nationality: str = "CHN",
    document_code: str = "P",
    personal_number: str = "",
) -> str:
    """The two 44-character lines of a passport MRZ, joined by ``"\\n"``."""
    _check_encode_args(date_of_birth, date_of_expiry, sex)
    number = _pad(document_number, 9, "document number")
    if not document_number:
        raise UsageError("document number must not be empty")
    line1 = _pad(document_code, 2, "document code") + _pad(issuing_state, 3, "issuing state")
    line1 += _fit_name(surname, given_names, 39)
    personal = _pad(personal_number, 14, "personal number")
    personal_check = icao_check_digit(personal) if personal_number else "<"
    line2 = (
        number
        + icao_check_digit(number)
        + _pad(nationality, 3, "nationality")
        + date_of_birth
        + icao_check_digit(date_of_birth)
        + sex
        + date_of_expiry
        + icao_check_digit(date_of_expiry)
        + personal
        + personal_check
    )
    line2 += icao_check_digit(line2[0:10] + line2[13:20] + line2[21:43])
    return "\n".join((line1, line2))
