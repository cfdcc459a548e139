"""DG15 (ICAO 9303-10 §4.7.15): the active authentication public key, a SubjectPublicKeyInfo in tag 6F."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from netid.card import tlv
from netid.errors import ParseError, UsageError

__all__ = ["AAPublicKey", "Dg15", "encode_dg15", "parse_dg15"]

_WHAT = "DG15"
_TAG = 0x6F

AAPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True, slots=True)
class Dg15:
    """``public_key_info`` is the DER SubjectPublicKeyInfo exactly as stored."""

    public_key_info: bytes

    def public_key(self) -> AAPublicKey:
        return _load(self.public_key_info)


def _load(spki: bytes) -> AAPublicKey:
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise ParseError(_WHAT, f"not a usable SubjectPublicKeyInfo ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ParseError(_WHAT, "active authentication key is neither EC nor RSA")
    return key


def parse_dg15(data: bytes) -> Dg15:
    """Parse DG15 and check that its key loads (EC or RSA)."""
    try:
        spki = tlv.decode_single(data, _TAG).value
    except ParseError as exc:
        raise ParseError(_WHAT, exc.reason) from None
    _load(spki)
    return Dg15(spki)


def encode_dg15(public_key: AAPublicKey | bytes) -> bytes:
    """DG15 for a public key object or a DER SubjectPublicKeyInfo."""
    if isinstance(public_key, bytes):
        spki = public_key
    elif isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        spki = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        raise UsageError("active authentication key must be EC or RSA")
    return tlv.encode(_TAG, spki)
