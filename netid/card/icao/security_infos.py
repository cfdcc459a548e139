"""SecurityInfos (ICAO 9303-11 §9.2): the DER ``SET OF SecurityInfo`` in EF.CardAccess and DG14.

Only what NetID acts on is modelled: :class:`PaceInfo` (which PACE protocol and domain parameters the chip
offers) and :class:`ActiveAuthenticationInfo` (which ECDSA hash the chip uses for active authentication).
Every other SecurityInfo (chip authentication, PACE domain parameter info, terminal authentication ...) is
kept verbatim in ``other`` so that re-encoding loses nothing.

``parse_security_infos`` takes untrusted bytes and raises only :class:`~netid.errors.ParseError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from netid.card import tlv
from netid.errors import ParseError, UsageError

_WHAT = "SecurityInfos"

ID_PACE = "0.4.0.127.0.7.2.2.4"
ID_PACE_ECDH_GM_AES_CBC_CMAC_128 = "0.4.0.127.0.7.2.2.4.2.2"
ID_AA = "2.23.136.1.1.5"
ECDSA_PLAIN_SHA1 = "0.4.0.127.0.7.1.1.4.1.1"
ECDSA_PLAIN_SHA224 = "0.4.0.127.0.7.1.1.4.1.2"
ECDSA_PLAIN_SHA256 = "0.4.0.127.0.7.1.1.4.1.3"
ECDSA_PLAIN_SHA384 = "0.4.0.127.0.7.1.1.4.1.4"
ECDSA_PLAIN_SHA512 = "0.4.0.127.0.7.1.1.4.1.5"

_TAG_SET = 0x31
_TAG_SEQUENCE = 0x30
_TAG_OID = 0x06
_TAG_INTEGER = 0x02

#: INTEGER values NetID reads are small (version, parameter id); refuse longer encodings outright
_MAX_INT_BYTES = 4


@dataclass(frozen=True, slots=True)
class PaceInfo:
    """A PACEInfo: the PACE protocol OID, its version (2) and the standardized domain parameter id."""

    protocol_oid: str
    version: int
    parameter_id: int | None


@dataclass(frozen=True, slots=True)
class ActiveAuthenticationInfo:
    """An ActiveAuthenticationInfo (in DG14): the signature algorithm of ECDSA active authentication."""

    signature_algorithm_oid: str
    version: int = 1


@dataclass(frozen=True, slots=True)
class SecurityInfos:
    """The parsed set. ``other`` holds the DER of every SecurityInfo not modelled above."""

    pace: tuple[PaceInfo, ...] = ()
    active_authentication: ActiveAuthenticationInfo | None = None
    other: tuple[bytes, ...] = ()


# --- OID and INTEGER codecs -------------------------------------------------------------------------


def decode_oid(value: bytes) -> str:
    """Dotted string of a DER OBJECT IDENTIFIER value (contents octets only)."""
    if not value:
        raise ParseError(_WHAT, "empty OBJECT IDENTIFIER")
    if value[-1] & 0x80:
        raise ParseError(_WHAT, "truncated OBJECT IDENTIFIER")
    arcs: list[int] = []
    acc = 0
    fresh = True
    for b in value:
        if fresh and b == 0x80:
            raise ParseError(_WHAT, "non-minimal OBJECT IDENTIFIER arc")
        if acc.bit_length() > 64:  # bounded work on hostile input
            raise ParseError(_WHAT, "OBJECT IDENTIFIER arc too large")
        acc = (acc << 7) | (b & 0x7F)
        fresh = not b & 0x80
        if fresh:
            arcs.append(acc)
            acc = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def encode_oid(dotted: str) -> bytes:
    """DER contents octets of a dotted OBJECT IDENTIFIER."""
    try:
        arcs = [int(a) for a in dotted.split(".")]
    except ValueError:
        raise UsageError(f"not a dotted OID: {dotted!r}") from None
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or min(arcs) < 0:
        raise UsageError(f"not a valid OID: {dotted!r}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def _decode_int(value: bytes) -> int:
    if not value:
        raise ParseError(_WHAT, "empty INTEGER")
    if len(value) > _MAX_INT_BYTES:
        raise ParseError(_WHAT, "INTEGER too large")
    n = int.from_bytes(value, "big", signed=True)
    if n < 0:
        raise ParseError(_WHAT, "negative INTEGER")
    return n


def _encode_int(n: int) -> bytes:
    if n < 0:
        raise UsageError("negative INTEGER")
    return tlv.encode(_TAG_INTEGER, n.to_bytes(n.bit_length() // 8 + 1, "big"))


# --- parse / encode ---------------------------------------------------------------------------------


def _is_pace_info_oid(oid: str) -> bool:
    # PACEInfo OIDs are id-PACE.<mapping>.<cipher>; id-PACE.<mapping> alone is PACEDomainParameterInfo
    return oid.startswith(ID_PACE + ".") and oid.count(".") == ID_PACE.count(".") + 2


def parse_security_infos(der: bytes) -> SecurityInfos:
    """Parse EF.CardAccess / the DG14 content (the SET OF SecurityInfo, without DG14's tag 6E)."""
    outer = tlv.decode_single(bytes(der), _TAG_SET)
    pace: list[PaceInfo] = []
    aa: ActiveAuthenticationInfo | None = None
    other: list[bytes] = []
    for item in outer.children():
        if item.tag != _TAG_SEQUENCE:
            raise ParseError(_WHAT, "SecurityInfo is not a SEQUENCE")
        fields = item.children()
        if len(fields) < 2 or fields[0].tag != _TAG_OID:
            raise ParseError(_WHAT, "SecurityInfo lacks protocol OID and required data")
        oid = decode_oid(fields[0].value)
        if _is_pace_info_oid(oid):
            if len(fields) > 3 or fields[1].tag != _TAG_INTEGER:
                raise ParseError(_WHAT, "malformed PACEInfo")
            param: int | None = None
            if len(fields) == 3:
                if fields[2].tag != _TAG_INTEGER:
                    raise ParseError(_WHAT, "malformed PACEInfo parameterId")
                param = _decode_int(fields[2].value)
            pace.append(PaceInfo(oid, _decode_int(fields[1].value), param))
        elif oid == ID_AA:
            if (
                len(fields) != 3
                or fields[1].tag != _TAG_INTEGER
                or fields[2].tag != _TAG_OID
                or aa is not None
            ):
                raise ParseError(_WHAT, "malformed or repeated ActiveAuthenticationInfo")
            aa = ActiveAuthenticationInfo(decode_oid(fields[2].value), _decode_int(fields[1].value))
        else:
            other.append(item.to_bytes())
    return SecurityInfos(tuple(pace), aa, tuple(other))


def encode_security_infos(infos: SecurityInfos) -> bytes:
    """DER encoding (elements of the SET OF sorted, as DER requires)."""
    elements: list[bytes] = []
    for p in infos.pace:
        body = [tlv.encode(_TAG_OID, encode_oid(p.protocol_oid)), _encode_int(p.version)]
        if p.parameter_id is not None:
            body.append(_encode_int(p.parameter_id))
        elements.append(tlv.encode(_TAG_SEQUENCE, body))
    if infos.active_authentication is not None:
        a = infos.active_authentication
        elements.append(
            tlv.encode(
                _TAG_SEQUENCE,
                [
                    tlv.encode(_TAG_OID, encode_oid(ID_AA)),
                    _encode_int(a.version),
                    tlv.encode(_TAG_OID, encode_oid(a.signature_algorithm_oid)),
                ],
            )
        )
    elements.extend(bytes(o) for o in infos.other)
    return tlv.encode(_TAG_SET, sorted(elements))
