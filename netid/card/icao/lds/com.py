"""EF.COM (ICAO 9303-10 §4.6.1): LDS version, Unicode version and the list of data groups present."""

from __future__ import annotations

import re
from dataclasses import dataclass

from netid.card import tlv
from netid.card.icao.lds import DG_TAG_BY_NUMBER, DG_TAGS, TAG_COM
from netid.errors import ParseError, UsageError

__all__ = ["EfCom", "encode_com", "parse_com"]

_WHAT = "EF.COM"
_TAG_LDS_VERSION = 0x5F01
_TAG_UNICODE_VERSION = 0x5F36
_TAG_LIST = 0x5C


@dataclass(frozen=True, slots=True)
class EfCom:
    """``lds_version`` is ``"aabb"`` (``"0107"`` = LDS 1.7); ``unicode_version`` ``"aabbcc"``."""

    lds_version: str
    unicode_version: str
    data_groups: tuple[int, ...]


def parse_com(data: bytes) -> EfCom:
    try:
        outer = tlv.decode_single(data, TAG_COM)
        fields = {item.tag: item.value for item in outer.children()}
    except ParseError as exc:
        raise ParseError(_WHAT, exc.reason) from None
    try:
        lds = fields[_TAG_LDS_VERSION].decode("ascii")
        uni = fields[_TAG_UNICODE_VERSION].decode("ascii")
        tags = fields[_TAG_LIST]
    except KeyError as exc:
        raise ParseError(_WHAT, f"tag {exc.args[0]:X} missing") from None
    except UnicodeDecodeError:
        raise ParseError(_WHAT, "version is not ASCII") from None
    if not re.fullmatch(r"[0-9]{4}", lds) or not re.fullmatch(r"[0-9]{6}", uni):
        raise ParseError(_WHAT, "malformed version number")
    groups: list[int] = []
    for t in tags:
        if t not in DG_TAGS:
            raise ParseError(_WHAT, f"tag list names unknown tag {t:02X}")
        groups.append(DG_TAGS[t])
    return EfCom(lds, uni, tuple(groups))


def encode_com(
    data_groups: tuple[int, ...] | list[int], *, lds_version: str = "0107", unicode_version: str = "040000"
) -> bytes:
    if not re.fullmatch(r"[0-9]{4}", lds_version) or not re.fullmatch(r"[0-9]{6}", unicode_version):
        raise UsageError("versions are 4 and 6 digits")
    try:
        tag_list = bytes(DG_TAG_BY_NUMBER[n] for n in data_groups)
    except KeyError:
        raise UsageError("data group numbers are 1-16") from None
    return tlv.encode(
        TAG_COM,
        [
            tlv.encode(_TAG_LDS_VERSION, lds_version.encode()),
            tlv.encode(_TAG_UNICODE_VERSION, unicode_version.encode()),
            tlv.encode(_TAG_LIST, tag_list),
        ],
    )
