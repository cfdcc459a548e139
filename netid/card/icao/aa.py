"""Active authentication (ICAO 9303-11 §6.1): the chip signs an 8-byte challenge with its DG15 key.

* ECDSA: plain ``r || s`` signature (BSI TR-03111), hash named by DG14's ActiveAuthenticationInfo
  (SHA-256 by default here).
* RSA: ISO/IEC 9796-2 digital signature scheme 1 with partial message recovery. The chip picks a random
  recoverable part ``M1`` that fills the modulus; the challenge is the non-recoverable part ``M2``.
  ``F = 6A || M1 || H(M1 || M2) || trailer`` with trailer ``BC`` (SHA-1) or ``34 CC`` (SHA-256). ``F``
  is ``n.bit_length() // 8`` bytes (so that ``F < n``: its top byte ``6A`` leaves the top bit zero), which
  is the whole modulus length for the usual key sizes, multiples of 8 bits. Verification accepts exactly
  this layout and nothing looser. RSA keys below :data:`MIN_RSA_BITS` (1024) are refused: ICAO 9303 sets
  no minimum for AA, 1024-bit keys are what older passports carry, and anything shorter is factorable.

The terminal side, :func:`verify_active_authentication`, raises only
:class:`~netid.errors.ActiveAuthenticationError` for a bad signature or an unusable key.
"""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from netid._typing import Rng
from netid.card.icao.security_infos import (
    ECDSA_PLAIN_SHA1,
    ECDSA_PLAIN_SHA224,
    ECDSA_PLAIN_SHA256,
    ECDSA_PLAIN_SHA384,
    ECDSA_PLAIN_SHA512,
)
from netid.errors import ActiveAuthenticationError, UsageError

AAPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

CHALLENGE_LENGTH = 8
#: the smallest DG15 RSA modulus accepted for active authentication (older passports use 1024 bits)
MIN_RSA_BITS = 1024

#: DG14 ActiveAuthenticationInfo signature algorithm OID → hash
ECDSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    ECDSA_PLAIN_SHA1: hashes.SHA1(),  # noqa: S303 - named by the chip's DG14; the standard allows it
    ECDSA_PLAIN_SHA224: hashes.SHA224(),
    ECDSA_PLAIN_SHA256: hashes.SHA256(),
    ECDSA_PLAIN_SHA384: hashes.SHA384(),
    ECDSA_PLAIN_SHA512: hashes.SHA512(),
}

_TRAILER_SHA1 = b"\xbc"
_TRAILER_SHA256 = b"\x34\xcc"  # 34 = SHA-256's ISO/IEC 10118-3 hash identifier


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _representative_length(modulus_bits: int) -> int:
    """Bytes of the ISO/IEC 9796-2 representative F: the most whole bytes below the modulus."""
    return modulus_bits // 8


def _trailer(algorithm: hashes.HashAlgorithm) -> bytes:
    if isinstance(algorithm, hashes.SHA1):
        return _TRAILER_SHA1
    if isinstance(algorithm, hashes.SHA256):
        return _TRAILER_SHA256
    raise UsageError(f"ISO/IEC 9796-2 signing supports SHA-1 and SHA-256, not {algorithm.name}")


# --- chip side ----------------------------------------------------------------------------------------


def sign_challenge(
    private_key: AAPrivateKey,
    challenge: bytes,
    *,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    rng: Rng = os.urandom,
) -> bytes:
    """The chip's INTERNAL AUTHENTICATE answer for ``challenge``.

    ``hash_algorithm`` defaults to SHA-256 for ECDSA and SHA-1 for RSA (what most RSA chips use).
    """
    if len(challenge) != CHALLENGE_LENGTH:
        raise UsageError("the AA challenge is 8 bytes")
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        algorithm = hash_algorithm or hashes.SHA256()
        der = private_key.sign(challenge, ec.ECDSA(algorithm))
        r, s = decode_dss_signature(der)
        size = (private_key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    algorithm = hash_algorithm or hashes.SHA1()  # noqa: S303 - ICAO 9303 RSA AA is mostly SHA-1
    trailer = _trailer(algorithm)
    k = (private_key.key_size + 7) // 8
    m1_len = _representative_length(private_key.key_size) - 1 - algorithm.digest_size - len(trailer)
    if m1_len < 1:
        raise UsageError("RSA key too small for ISO/IEC 9796-2 with this hash")
    m1 = rng(m1_len)
    f = b"\x6a" + m1 + _digest(algorithm, m1 + challenge) + trailer
    numbers = private_key.private_numbers()
    n = numbers.public_numbers.n
    return pow(int.from_bytes(f, "big"), numbers.d, n).to_bytes(k, "big")


# --- terminal side -------------------------------------------------------------------------------------


def verify_active_authentication(
    public_key_info_der: bytes,
    challenge: bytes,
    signature: bytes,
    *,
    hash_algorithm: hashes.HashAlgorithm | None = None,
) -> None:
    """Check the chip's answer to ``challenge`` against the DG15 SubjectPublicKeyInfo.

    For ECDSA, ``hash_algorithm`` comes from DG14 (see :data:`ECDSA_HASHES`; default SHA-256). For RSA the
    hash is taken from the signature's trailer; passing ``hash_algorithm`` then pins it.
    """
    try:
        key = serialization.load_der_public_key(bytes(public_key_info_der))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ActiveAuthenticationError(f"DG15 holds no usable public key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            raise ActiveAuthenticationError("ECDSA signature has the wrong length")
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        try:
            key.verify(encode_dss_signature(r, s), challenge, ec.ECDSA(hash_algorithm or hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise ActiveAuthenticationError("active authentication signature is invalid") from None
        return
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ActiveAuthenticationError(
                f"DG15 RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} needed"
            )
        _verify_iso9796_2(key, challenge, signature, hash_algorithm)
        return
    raise ActiveAuthenticationError("DG15 key type is not supported for active authentication")


def _verify_iso9796_2(
    key: rsa.RSAPublicKey,
    challenge: bytes,
    signature: bytes,
    pinned: hashes.HashAlgorithm | None,
) -> None:
    numbers = key.public_numbers()
    k = (key.key_size + 7) // 8
    s = int.from_bytes(signature, "big")
    if len(signature) != k or not 0 < s < numbers.n:
        raise ActiveAuthenticationError("RSA signature has the wrong length or range")
    f = pow(s, numbers.e, numbers.n).to_bytes(k, "big")
    algorithm: hashes.HashAlgorithm
    if f[-1:] == _TRAILER_SHA1:
        algorithm, trailer_len = hashes.SHA1(), 1  # noqa: S303 - the chip's choice (trailer BC)
    elif f[-2:] == _TRAILER_SHA256:
        algorithm, trailer_len = hashes.SHA256(), 2
    else:
        raise ActiveAuthenticationError("ISO/IEC 9796-2 trailer is missing or names an unsupported hash")
    if pinned is not None and pinned.name != algorithm.name:
        raise ActiveAuthenticationError("signature hash differs from the expected one")
    # exactly: leading zero bytes up to the representative's length, header 6A (partial recovery, no
    # padding), M1 filling the rest, the hash, the trailer
    f_len = _representative_length(key.key_size)
    m1_len = f_len - 1 - algorithm.digest_size - trailer_len
    zeros, body = f[: k - f_len], f[k - f_len :]
    if any(zeros) or body[0] != 0x6A or m1_len < 1:
        raise ActiveAuthenticationError("ISO/IEC 9796-2 representative is not 6A || M1 || hash || trailer")
    m1 = body[1 : 1 + m1_len]
    if not hmac.compare_digest(_digest(algorithm, m1 + challenge), body[1 + m1_len : f_len - trailer_len]):
        raise ActiveAuthenticationError("active authentication signature is invalid")
