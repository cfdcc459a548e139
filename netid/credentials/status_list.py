"""IETF OAuth Token Status List (draft-ietf-oauth-status-list), JWT form.

A status list is a packed array of ``bits``-wide statuses (1, 2, 4 or 8 bits each); entry ``i`` lives in
byte ``i * bits // 8`` starting at the least significant bit (so with ``bits=1`` entry 0 is bit 0 of byte
0). It travels DEFLATE-compressed (zlib format) and base64url-encoded as ``lst`` inside a Status List
Token — a JWT with ``typ: statuslist+jwt``, ``sub`` = the list's URI, ``iat``, optional ``exp``/``ttl``
and ``status_list: {bits, lst}``. A credential points at its entry with
``"status": {"status_list": {"idx": i, "uri": uri}}``.

Decoding never inflates more than the declared maximum: a few kilobytes of ``lst`` can otherwise expand to
gigabytes (a zip bomb). Pure functions: the clock is a parameter. Building and signing lists is the
issuer's business (:mod:`netid.issuance.status_lists`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Final

from netid.credentials._b64 import b64url_decode, b64url_encode
from netid.credentials.jose import (
    ALLOWED_ALGORITHMS,
    PublicKey,
    VerifyingKey,
    decode_jws_unverified,
    typ_matches,
    verifying_key,
)
from netid.errors import ParseError, UsageError, VerificationError

__all__ = [
    "DEFAULT_MAX_TOKEN_AGE",
    "INVALID",
    "STATUS_LIST_TYP",
    "SUSPENDED",
    "VALID",
    "StatusList",
    "parse_status_list_token",
]

#: The credential is valid (not revoked, not suspended).
VALID: Final = 0
#: The credential is revoked, permanently.
INVALID: Final = 1
#: The credential is suspended (may become valid again).
SUSPENDED: Final = 2

STATUS_LIST_TYP: Final = "statuslist+jwt"
_BITS: Final = (1, 2, 4, 8)
#: Default ceiling on entries a decoder accepts (2^24 = 16.7 M entries; 2 MiB at 1 bit each).
DEFAULT_MAX_SIZE: Final = 2**24
#: Default maximum age of a Status List Token (``now − iat``) a verifier accepts: one day. Issuers
#: SHOULD re-sign their lists well within this (the demo issuer signs on every fetch).
DEFAULT_MAX_TOKEN_AGE: Final = 86_400


class StatusList:
    """A mutable status list of ``bits``-wide entries, backed by a packed ``bytearray``.

    ``StatusList(bits, 1000)`` makes 1000 ``VALID`` entries (rounded up to whole bytes);
    ``StatusList(bits, [1, 0, 2])`` takes the given statuses.
    """

    __slots__ = ("_bits", "_data", "_mask", "_per_byte")

    def __init__(self, bits: int, statuses: int | Iterable[int] = 0) -> None:
        if type(bits) is not int or bits not in _BITS:  # not 1.0 nor True: 1.0 in (1, 2, 4, 8) is true
            raise UsageError("bits must be 1, 2, 4 or 8")
        self._bits = bits
        self._per_byte = 8 // bits
        self._mask = (1 << bits) - 1
        if isinstance(statuses, int):
            if statuses < 0:
                raise UsageError("size must be non-negative")
            self._data = bytearray(-(-statuses // self._per_byte))
        else:
            values = list(statuses)
            self._data = bytearray(-(-len(values) // self._per_byte))
            for i, v in enumerate(values):
                self.set(i, v)

    @classmethod
    def from_bytes(cls, bits: int, packed: bytes) -> StatusList:
        """A list over already-packed bytes (copied)."""
        lst = cls(bits)
        lst._data = bytearray(packed)
        return lst

    @property
    def bits(self) -> int:
        """Bits per entry: 1, 2, 4 or 8."""
        return self._bits

    def __len__(self) -> int:
        return len(self._data) * self._per_byte

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return self._bits == other._bits and self._data == other._data

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"StatusList(bits={self._bits}, size={len(self)})"

    def packed(self) -> bytes:
        """The packed bytes (entry 0 in the least significant bits of byte 0)."""
        return bytes(self._data)

    def _locate(self, idx: int) -> tuple[int, int]:
        # the length inline rather than len(self): a verifier looks up an entry per presentation
        if (
            isinstance(idx, bool)
            or not isinstance(idx, int)
            or not 0 <= idx < len(self._data) * self._per_byte
        ):
            raise IndexError(f"status index {idx!r} out of range")
        byte, slot = divmod(idx, self._per_byte)
        return byte, slot * self._bits

    def get(self, idx: int) -> int:
        """Status of entry ``idx``. ``IndexError`` outside the list."""
        byte, shift = self._locate(idx)
        return (self._data[byte] >> shift) & self._mask

    def set(self, idx: int, status: int) -> None:
        """Set entry ``idx`` to ``status`` (0 … 2^bits − 1)."""
        if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= self._mask:
            raise UsageError(f"status must be an integer in 0..{self._mask}")
        byte, shift = self._locate(idx)
        self._data[byte] = (self._data[byte] & ~(self._mask << shift)) | (status << shift)

    def statuses(self) -> list[int]:
        """All entries, in order."""
        return [self.get(i) for i in range(len(self))]

    def encode_lst(self) -> str:
        """The ``lst`` value: zlib (DEFLATE, level 9) then base64url."""
        return b64url_encode(zlib.compress(bytes(self._data), 9))

    @classmethod
    def decode(cls, lst: str, bits: int, *, max_size: int = DEFAULT_MAX_SIZE) -> StatusList:
        """Decode an ``lst`` value; :class:`ParseError` if malformed or larger than ``max_size`` entries.

        Inflation stops at the size limit (``decompressobj`` with ``max_length``), so a zip bomb costs
        at most ``max_size * bits / 8`` bytes of memory.
        """
        if type(bits) is not int or bits not in _BITS:
            raise ParseError("status list", "bits must be 1, 2, 4 or 8")
        compressed = b64url_decode(lst, "status list lst")
        limit = -(-max_size * bits // 8)
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(compressed, limit + 1)
        except zlib.error as exc:
            raise ParseError("status list", "lst is not a zlib stream") from exc
        if len(data) > limit or inflater.unconsumed_tail:
            raise ParseError("status list", f"list is larger than {max_size} entries")
        if not inflater.eof:
            raise ParseError("status list", "zlib stream is truncated")
        if inflater.unused_data:
            raise ParseError("status list", "trailing bytes after the zlib stream")
        return cls.from_bytes(bits, data)


def _unavailable(message: str) -> VerificationError:
    return VerificationError("status_unavailable", message)


def parse_status_list_token(
    token: str,
    key: VerifyingKey | PublicKey,
    *,
    now: int,
    expected_sub: str,
    leeway: int = 60,
    max_size: int = DEFAULT_MAX_SIZE,
    max_age: int = DEFAULT_MAX_TOKEN_AGE,
) -> StatusList:
    """Verify a Status List Token and return its list.

    Any failure — malformed, wrong ``typ``, disallowed ``alg``, bad signature, ``sub`` not the URI the
    credential named, expired, **older than** ``max_age`` seconds (``iat < now − max_age``), oversized
    list — raises ``VerificationError("status_unavailable")``: the verifier cannot learn the status, and
    must not treat the credential as valid.

    The age bound applies whether or not the token has an ``exp``: a validly signed token stays valid
    forever as a *signature*, so without it anyone on the fetch path (CDN, proxy, DNS) could replay a
    list from before a revocation. ``exp``, when present, bounds the token further.
    """
    if type(max_age) is not int or max_age <= 0:
        raise UsageError("max_age must be a positive number of seconds")
    if type(now) is not int and type(now) is not float:
        raise UsageError("now must be a number of seconds")
    if type(leeway) is not int or leeway < 0:
        raise UsageError("leeway must be a non-negative integer")
    if type(max_size) is not int or max_size < 1:
        raise UsageError("max_size must be a positive integer")
    if type(expected_sub) is not str:
        raise UsageError("expected_sub must be the list's URI")
    try:
        header, payload, signing_input, signature = decode_jws_unverified(token)
    except ParseError as exc:
        raise _unavailable(f"status list token is malformed: {exc}") from exc
    if not typ_matches(header.get("typ"), STATUS_LIST_TYP):
        raise _unavailable("status list token has the wrong typ")
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS or "crit" in header:
        raise _unavailable("status list token algorithm is not allowed")
    try:
        vk = verifying_key(key)
    except UsageError as exc:
        raise _unavailable("status list key type is not supported") from exc
    if vk.alg != alg or not vk.verify(signing_input, signature):
        raise _unavailable("status list token signature does not verify")
    if payload.get("sub") != expected_sub:
        raise _unavailable("status list token is for another list")
    iat = payload.get("iat")
    if (type(iat) is not int and type(iat) is not float) or iat > now + leeway:
        raise _unavailable("status list token has no valid iat")
    if iat < now - max_age:
        raise _unavailable("status list token is too old")
    exp = payload.get("exp")
    if exp is not None and ((type(exp) is not int and type(exp) is not float) or now >= exp + leeway):
        raise _unavailable("status list token has expired")
    body = payload.get("status_list")
    if type(body) is not dict:
        raise _unavailable("status list token has no status_list")
    bits, lst = body.get("bits"), body.get("lst")
    # JSON types: bits is an integer (not 1.0, not true, though both compare equal to 1)
    if type(bits) is not int or bits not in _BITS or type(lst) is not str:
        raise _unavailable("status_list needs bits in (1, 2, 4, 8) and a string lst")
    try:
        return StatusList.decode(lst, bits, max_size=max_size)
    except ParseError as exc:
        raise _unavailable(f"status list is malformed: {exc}") from exc
