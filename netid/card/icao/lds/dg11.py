"""DG11 (ICAO 9303-10 §4.7.11): additional personal details — full name in national characters,
personal number, full date of birth, place of birth, address and more, all optional, in template 6B.

Text is UTF-8, so the full name can be in Chinese characters; ICAO writes it as
``primary<<secondary`` (``张<<晓明``). Unknown data objects are kept verbatim in ``other`` so a parse →
encode round trip loses nothing.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from netid.card import tlv
from netid.errors import ParseError, UsageError
from netid.personal_number import mask_personal_number

__all__ = ["TEXT_FIELDS", "Dg11", "encode_dg11", "full_name_field", "parse_dg11"]

_WHAT = "DG11"
_TAG = 0x6B
_TAG_LIST = 0x5C
_TAG_OTHER_NAMES = 0xA0
_TAG_COUNT = 0x02
_TAG_OTHER_NAME = 0x5F0F
_TAG_FULL_DATE_OF_BIRTH = 0x5F2B
_TAG_PROOF_OF_CITIZENSHIP = 0x5F16

#: text fields, by attribute name → tag (in the order ICAO lists them)
TEXT_FIELDS: dict[str, int] = {
    "full_name": 0x5F0E,
    "personal_number": 0x5F10,
    "place_of_birth": 0x5F11,
    "address": 0x5F42,
    "telephone": 0x5F12,
    "profession": 0x5F13,
    "title": 0x5F14,
    "personal_summary": 0x5F15,
    "other_td_numbers": 0x5F17,
    "custody_information": 0x5F18,
}
_FIELD_BY_TAG = {t: n for n, t in TEXT_FIELDS.items()}
_MAX_OTHER_NAMES = 64


@dataclass(frozen=True)
class Dg11:
    """The fields present in DG11 (``None`` when absent)."""

    full_name: str | None = None
    other_names: tuple[str, ...] = ()
    personal_number: str | None = None
    date_of_birth: datetime.date | None = None
    place_of_birth: str | None = None
    address: str | None = None
    telephone: str | None = None
    profession: str | None = None
    title: str | None = None
    personal_summary: str | None = None
    other_td_numbers: str | None = None
    custody_information: str | None = None
    proof_of_citizenship: bytes | None = None
    #: data objects NetID does not model, (tag, value) in file order
    other: tuple[tuple[int, bytes], ...] = field(default=())

    @property
    def name_parts(self) -> tuple[str, str] | None:
        """``(primary, secondary)`` identifiers of ``full_name`` split at ``<<``; ``<`` → space."""
        if self.full_name is None:
            return None
        primary, _, secondary = self.full_name.partition("<<")
        return primary.replace("<", " ").strip(), secondary.replace("<", " ").strip()

    def __repr__(self) -> str:
        masked = None if self.personal_number is None else mask_personal_number(self.personal_number)
        present = [n for n in TEXT_FIELDS if getattr(self, n) is not None]
        return f"Dg11(fields={present}, personal_number={masked!r})"


def _text(value: bytes, tag: int) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(_WHAT, f"field {tag:X} is not UTF-8") from None


def _parse_date(value: bytes) -> datetime.date:
    if len(value) == 8 and value.isdigit():
        digits = value.decode("ascii")
    elif len(value) == 4:  # some issuers store YYYYMMDD as 4 BCD bytes
        digits = value.hex()
        if not digits.isdigit():
            raise ParseError(_WHAT, "full date of birth is not BCD")
    else:
        raise ParseError(_WHAT, "full date of birth is not YYYYMMDD")
    try:
        return datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise ParseError(_WHAT, "full date of birth is not a calendar date") from None


def parse_dg11(data: bytes) -> Dg11:
    try:
        items = tlv.decode_single(data, _TAG).children()
        values: dict[str, object] = {}
        other: list[tuple[int, bytes]] = []
        seen: set[int] = set()
        if not items or items[0].tag != _TAG_LIST:
            raise ParseError(_WHAT, "tag list (5C) missing")
        for item in items[1:]:
            if item.tag in seen:
                raise ParseError(_WHAT, f"field {item.tag:X} repeated")
            seen.add(item.tag)
            if item.tag in _FIELD_BY_TAG:
                values[_FIELD_BY_TAG[item.tag]] = _text(item.value, item.tag)
            elif item.tag == _TAG_FULL_DATE_OF_BIRTH:
                values["date_of_birth"] = _parse_date(item.value)
            elif item.tag == _TAG_PROOF_OF_CITIZENSHIP:
                values["proof_of_citizenship"] = item.value
            elif item.tag == _TAG_OTHER_NAMES:
                values["other_names"] = _parse_other_names(item)
            elif item.tag == _TAG_OTHER_NAME:  # some issuers omit the A0 wrapper
                values["other_names"] = (_text(item.value, item.tag),)
            else:
                other.append((item.tag, item.value))
    except ParseError as exc:
        raise ParseError(_WHAT, exc.reason) from None
    return Dg11(other=tuple(other), **values)  # type: ignore[arg-type]


def _parse_other_names(item: tlv.Tlv) -> tuple[str, ...]:
    children = item.children()
    if not children or children[0].tag != _TAG_COUNT or len(children[0].value) != 1:
        raise ParseError(_WHAT, "other names lack their count")
    names = [_text(c.value, c.tag) for c in children[1:] if c.tag == _TAG_OTHER_NAME]
    if len(names) != children[0].value[0] or len(names) > _MAX_OTHER_NAMES:
        raise ParseError(_WHAT, "other names count does not match")
    return tuple(names)


def encode_dg11(details: Dg11) -> bytes:
    """Encode the present fields in ICAO order, preceded by the tag list."""
    fields: list[tuple[int, bytes]] = []
    for name, tag in TEXT_FIELDS.items():
        value = getattr(details, name)
        if value is not None:
            fields.append((tag, value.encode("utf-8")))
        if name == "full_name" and details.other_names:
            count = len(details.other_names)
            if count > _MAX_OTHER_NAMES:
                raise UsageError("too many other names")
            body = tlv.encode(_TAG_COUNT, bytes((count,))) + b"".join(
                tlv.encode(_TAG_OTHER_NAME, n.encode("utf-8")) for n in details.other_names
            )
            fields.append((_TAG_OTHER_NAMES, body))
        if name == "personal_number" and details.date_of_birth is not None:
            fields.append((_TAG_FULL_DATE_OF_BIRTH, details.date_of_birth.strftime("%Y%m%d").encode()))
    if details.proof_of_citizenship is not None:
        fields.append((_TAG_PROOF_OF_CITIZENSHIP, details.proof_of_citizenship))
    fields.extend(details.other)
    tag_list = b"".join(tlv.tag_bytes(t) for t, _ in fields)
    return tlv.encode(_TAG, [tlv.encode(_TAG_LIST, tag_list)] + [tlv.encode(t, v) for t, v in fields])


def full_name_field(primary: str, secondary: str) -> str:
    """ICAO's ``primary<<secondary`` form of a name (spaces inside a part become ``<``)."""

    def part(s: str) -> str:
        return re.sub(r"\s+", "<", s.strip())

    return f"{part(primary)}<<{part(secondary)}" if secondary else part(primary)
