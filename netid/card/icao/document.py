"""A parsed view of an eMRTD's files: who the document says the holder is.

:meth:`EmrtdDocument.from_files` only *parses*; it does not authenticate. Run
:func:`netid.card.icao.passive_auth.verify_passive_authentication` over the same files before trusting
any field.

Privacy (``specs/protocol.md`` §8): ``repr`` never shows the personal number, name, birth date, document
number or portrait — only the document type, issuing state, the masked personal number (its 6-digit
region code, see :func:`~netid.personal_number.mask_personal_number`) and which files were present.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from netid.card.icao.lds import FID_COM, FID_DG, FID_SOD
from netid.card.icao.lds.com import EfCom, parse_com
from netid.card.icao.lds.dg1 import parse_dg1
from netid.card.icao.lds.dg2 import parse_dg2
from netid.card.icao.lds.dg11 import Dg11, parse_dg11
from netid.card.icao.lds.dg14 import parse_dg14
from netid.card.icao.lds.dg15 import parse_dg15
from netid.card.icao.lds.sod import SecurityObject, parse_sod
from netid.card.icao.mrz import Mrz
from netid.card.icao.security_infos import SecurityInfos
from netid.errors import ParseError
from netid.personal_number import mask_personal_number

__all__ = ["EmrtdDocument"]

_WHAT = "eMRTD"


@dataclass(frozen=True, repr=False)
class EmrtdDocument:
    """The holder and document data from DG1 (MRZ), DG2, DG11, DG14, DG15, EF.COM and EF.SOD.

    Dates are calendar dates: the birth date comes from DG11's full date of birth, else from the
    personal number's digits (18-digit Chinese numbers), else from the MRZ with the century chosen so the
    date is not after ``today``. The expiry date comes from the MRZ (years 00-69 → 20xx, 70-99 → 19xx).
    ``full_name`` is DG11's name for display (Chinese names joined without a space, others as
    ``"GIVEN SURNAME"``), falling back to the MRZ's transliteration.
    """

    mrz: Mrz
    full_name: str
    personal_number: str | None
    date_of_birth: datetime.date
    date_of_expiry: datetime.date
    portrait: bytes | None
    portrait_mime: str | None
    aa_public_key_info: bytes | None
    security_infos: SecurityInfos | None
    sod: SecurityObject | None
    com: EfCom | None
    dg11: Dg11 | None
    data_groups: tuple[int, ...]

    @property
    def document_number(self) -> str:
        return self.mrz.document_number

    @property
    def sex(self) -> str:
        return self.mrz.sex

    @property
    def nationality(self) -> str:
        return self.mrz.nationality

    @property
    def issuing_state(self) -> str:
        return self.mrz.issuing_state

    @property
    def masked_personal_number(self) -> str | None:
        """The personal number with all but its 6-digit region code masked (safe to log)."""
        return None if self.personal_number is None else mask_personal_number(self.personal_number)

    def __repr__(self) -> str:
        portrait = "None" if self.portrait is None else f"<{len(self.portrait)} bytes {self.portrait_mime}>"
        return (
            f"EmrtdDocument(document_code={self.mrz.document_code!r}, issuing_state={self.issuing_state!r}, "
            f"personal_number={self.masked_personal_number!r}, portrait={portrait}, "
            f"data_groups={list(self.data_groups)})"
        )

    __str__ = __repr__

    @classmethod
    def from_files(
        cls,
        files: Mapping[int, bytes],
        *,
        today: datetime.date | None = None,
        sod: SecurityObject | None = None,
    ) -> EmrtdDocument:
        """Parse the files read from a chip, keyed by file identifier (``FID_*``). DG1 is required;
        every other file is optional. Raises only :class:`ParseError`.

        ``sod`` is EF.SOD already parsed from ``files`` — passive authentication's
        :attr:`~netid.card.icao.passive_auth.PassiveAuthResult.security_object` — so that it is not
        parsed a second time; without it, EF.SOD (when present) is parsed here."""
        raw_dg1 = files.get(FID_DG[1])
        if raw_dg1 is None:
            raise ParseError(_WHAT, "DG1 (MRZ) is missing")
        mrz = parse_dg1(raw_dg1)
        com = parse_com(files[FID_COM]) if FID_COM in files else None
        dg2 = parse_dg2(files[FID_DG[2]]) if FID_DG[2] in files else None
        dg11 = parse_dg11(files[FID_DG[11]]) if FID_DG[11] in files else None
        infos = parse_dg14(files[FID_DG[14]]) if FID_DG[14] in files else None
        dg15 = parse_dg15(files[FID_DG[15]]) if FID_DG[15] in files else None
        if sod is None and FID_SOD in files:
            sod = parse_sod(files[FID_SOD])
        personal_number = dg11.personal_number if dg11 is not None else None
        if personal_number is None and mrz.format == "TD3" and mrz.optional_data:
            personal_number = mrz.optional_data
        return cls(
            mrz=mrz,
            full_name=_display_name(dg11, mrz),
            personal_number=personal_number,
            date_of_birth=_birth_date(mrz, dg11, personal_number, today or datetime.date.today()),
            date_of_expiry=_mrz_date(
                mrz.date_of_expiry, century=20 if int(mrz.date_of_expiry[:2]) < 70 else 19
            ),
            portrait=dg2.portrait.image if dg2 is not None else None,
            portrait_mime=dg2.portrait.mime_type if dg2 is not None else None,
            aa_public_key_info=dg15.public_key_info if dg15 is not None else None,
            security_infos=infos,
            sod=sod,
            com=com,
            dg11=dg11,
            data_groups=tuple(sorted(n for n, fid in FID_DG.items() if fid in files)),
        )


def _is_cjk(s: str) -> bool:
    return any(ord(c) > 0x2E80 for c in s)


def _display_name(dg11: Dg11 | None, mrz: Mrz) -> str:
    parts = dg11.name_parts if dg11 is not None else None
    primary, secondary = parts if parts is not None else (mrz.surname, mrz.given_names)
    if _is_cjk(primary + secondary):
        return primary + secondary  # 张晓明: surname first, no space
    return f"{secondary} {primary}".strip()


def _mrz_date(yymmdd: str, *, century: int) -> datetime.date:
    try:
        return datetime.date(century * 100 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
    except ValueError:
        raise ParseError(_WHAT, "MRZ date is not a calendar date") from None


def _birth_date(
    mrz: Mrz, dg11: Dg11 | None, personal_number: str | None, today: datetime.date
) -> datetime.date:
    if dg11 is not None and dg11.date_of_birth is not None:
        return dg11.date_of_birth
    if personal_number is not None and len(personal_number) == 18 and personal_number[:17].isdigit():
        digits = personal_number[6:14]
        try:
            from_number = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            from_number = None
        # trust the number's date only where it agrees with the MRZ (its YYMMDD is check-digit protected)
        if from_number is not None and from_number.strftime("%y%m%d") == mrz.date_of_birth:
            return from_number
    candidate = _mrz_date(mrz.date_of_birth, century=20)
    if candidate > today:
        candidate = _mrz_date(mrz.date_of_birth, century=19)
    return candidate
