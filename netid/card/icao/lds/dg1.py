"""DG1 (ICAO 9303-10 §4.7.1): the MRZ, as data object 5F1F inside template 61."""

from __future__ import annotations

from netid.card import tlv
from netid.card.icao.mrz import Mrz, parse_mrz
from netid.errors import ParseError, UsageError

__all__ = ["encode_dg1", "parse_dg1"]

_WHAT = "DG1"
_TAG = 0x61
_TAG_MRZ = 0x5F1F


def parse_dg1(data: bytes) -> Mrz:
    """Parse DG1 and its MRZ (check digits verified)."""
    try:
        raw = tlv.decode_single(data, _TAG).child(_TAG_MRZ).value
        text = raw.decode("ascii")
    except ParseError as exc:
        raise ParseError(_WHAT, exc.reason) from None
    except UnicodeDecodeError:
        raise ParseError(_WHAT, "MRZ is not ASCII") from None
    if "\n" in text or "\r" in text:
        raise ParseError(_WHAT, "MRZ in DG1 has no line breaks")
    try:
        return parse_mrz(text)
    except ParseError as exc:
        raise ParseError(_WHAT, exc.reason) from None


def encode_dg1(mrz: Mrz | str) -> bytes:
    """DG1 for an :class:`Mrz` or MRZ text (lines are concatenated without separators)."""
    text = "".join(mrz.lines()) if isinstance(mrz, Mrz) else "".join(mrz.split())
    try:
        parse_mrz(text)  # refuse to encode something we would not parse back
    except ParseError as exc:
        raise UsageError(f"not a valid MRZ: {exc.reason}") from None
    return tlv.encode(_TAG, tlv.encode(_TAG_MRZ, text.encode("ascii")))
