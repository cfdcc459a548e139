"""DG14 (ICAO 9303-10 §4.7.14): SecurityInfos for chip-side protocols, inside tag 6E."""

from __future__ import annotations

from netid.card import tlv
from netid.card.icao.security_infos import SecurityInfos, encode_security_infos, parse_security_infos
from netid.errors import ParseError

__all__ = ["encode_dg14", "parse_dg14"]

_WHAT = "DG14"
_TAG = 0x6E


def parse_dg14(data: bytes) -> SecurityInfos:
    try:
        return parse_security_infos(tlv.decode_single(data, _TAG).value)
    except ParseError as exc:
        raise ParseError(_WHAT, exc.reason) from None


def encode_dg14(infos: SecurityInfos) -> bytes:
    return tlv.encode(_TAG, encode_security_infos(infos))
