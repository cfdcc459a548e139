"""BER-TLV as used by ISO 7816-4 and ICAO 9303 (tags up to 4 bytes, definite lengths up to 4 bytes).

Decoding takes untrusted bytes: every length is checked against the bytes actually present before
anything is sliced, so an attacker's length field never drives an allocation, and the only error is
:class:`~netid.errors.ParseError`. Constructed values are parsed lazily (``children()``), so nesting
depth costs nothing until asked for and recursion is bounded by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from netid.errors import ParseError, UsageError

_WHAT = "BER-TLV"
MAX_TAG_BYTES = 4
MAX_LENGTH_BYTES = 4


@dataclass(frozen=True, slots=True)
class Tlv:
    """One decoded data object. ``tag`` is the tag's bytes read as a big-endian integer (``0x5F1F``)."""

    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        return bool(_first_tag_byte(self.tag) & 0x20)

    def children(self) -> list[Tlv]:
        """Decode the value as a sequence of data objects (for constructed tags)."""
        return decode_all(self.value)

    def child(self, tag: int) -> Tlv:
        """The first child with ``tag``; :class:`ParseError` if absent."""
        for item in self.children():
            if item.tag == tag:
                return item
        raise ParseError(_WHAT, f"tag {tag:X} missing inside {self.tag:X}")

    def find(self, tag: int) -> Tlv | None:
        for item in self.children():
            if item.tag == tag:
                return item
        return None

    def to_bytes(self) -> bytes:
        return encode(self.tag, self.value)


def _first_tag_byte(tag: int) -> int:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")[0]


def tag_bytes(tag: int) -> bytes:
    if tag < 0:
        raise UsageError("negative tag")
    raw = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    if len(raw) > MAX_TAG_BYTES:
        raise UsageError("tag longer than 4 bytes")
    return raw


def encode_length(n: int) -> bytes:
    if n < 0:
        raise UsageError("negative length")
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(raw) > MAX_LENGTH_BYTES:
        raise UsageError("length does not fit 4 bytes")
    return bytes((0x80 | len(raw),)) + raw


def encode(tag: int, value: bytes | Iterable[bytes]) -> bytes:
    """Encode one data object; ``value`` may be bytes or an iterable of already-encoded children."""
    body = value if isinstance(value, bytes | bytearray) else b"".join(value)
    return tag_bytes(tag) + encode_length(len(body)) + bytes(body)


def decode_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """Read a tag and length at ``offset``; return ``(tag, value_offset, value_length)``.

    The value is guaranteed to lie entirely inside ``data``.
    """
    end = len(data)
    if offset >= end:
        raise ParseError(_WHAT, "no tag: input ends")
    pos = offset
    first = data[pos]
    pos += 1
    tag = first
    if first & 0x1F == 0x1F:
        while True:
            if pos >= end:
                raise ParseError(_WHAT, "truncated multi-byte tag")
            if pos - offset >= MAX_TAG_BYTES:
                raise ParseError(_WHAT, "tag longer than 4 bytes")
            b = data[pos]
            pos += 1
            tag = (tag << 8) | b
            if not b & 0x80:
                break
    if pos >= end:
        raise ParseError(_WHAT, "missing length")
    lb = data[pos]
    pos += 1
    if lb < 0x80:
        length = lb
    elif lb == 0x80:
        raise ParseError(_WHAT, "indefinite length is not allowed")
    else:
        n = lb & 0x7F
        if n > MAX_LENGTH_BYTES:
            raise ParseError(_WHAT, "length field longer than 4 bytes")
        if pos + n > end:
            raise ParseError(_WHAT, "truncated length field")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if length > end - pos:
        raise ParseError(_WHAT, f"value of tag {tag:X} runs past the end of the input")
    return tag, pos, length


def decode_one(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """Decode the data object at ``offset``; return it and the offset just past it."""
    tag, start, length = decode_header(data, offset)
    return Tlv(tag, bytes(data[start : start + length])), start + length


def iter_decode(data: bytes) -> Iterator[Tlv]:
    offset = 0
    data = bytes(data)
    while offset < len(data):
        tlv, offset = decode_one(data, offset)
        yield tlv


def decode_all(data: bytes) -> list[Tlv]:
    """Decode a concatenation of data objects that must cover ``data`` exactly."""
    return list(iter_decode(data))


def decode_single(data: bytes, expected_tag: int | None = None) -> Tlv:
    """Decode exactly one data object with no trailing bytes, optionally checking its tag."""
    tlv, end = decode_one(bytes(data))
    if end != len(data):
        raise ParseError(_WHAT, "trailing bytes after the data object")
    if expected_tag is not None and tlv.tag != expected_tag:
        raise ParseError(_WHAT, f"expected tag {expected_tag:X}, found {tlv.tag:X}")
    return tlv
