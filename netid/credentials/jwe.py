"""JWE for NetID: encrypting a JSON payload to a P-256 public key, and decrypting it (RFC 7516, 7518 §4.6).

Two things travel encrypted: a wallet's enrollment evidence, sealed to the issuer's enrollment key
(:mod:`netid.oid4vci.evidence`), and an OpenID4VP ``direct_post.jwt`` response, encrypted to the relying
party's key. Both use exactly one construction, the one the OpenID4VC high-assurance profile asks for:
``alg: ECDH-ES`` (direct key agreement, P-256 ephemeral key) with ``enc: A128GCM`` or ``A256GCM``. Every
other algorithm, compression (``zip``) and critical headers are refused before any key is used.

The cipher work is jwcrypto's (a maintained JOSE library); this module is the policy around it:
allow-lists, a size cap checked before parsing, and one error type — :class:`ParseError` — for anything
an untrusted sender can make go wrong (malformed, unsupported, undecryptable). jwcrypto's exceptions are
translated at the one call that can raise them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwe as _jwe
from jwcrypto import jwk as _jwk
from jwcrypto.common import JWException

from netid.credentials._b64 import b64url_decode
from netid.errors import ParseError, UsageError

__all__ = ["ALLOWED_ENC", "JWE_ALG", "MAX_JWE_BYTES", "decrypt_jwe", "encrypt_jwe", "jwe_header"]

JWE_ALG: Final = "ECDH-ES"
ALLOWED_ENC: Final = ("A128GCM", "A256GCM")
#: the largest compact JWE accepted by default (evidence is ~8 KB with DG1, DG11, DG14, DG15 and EF.SOD)
MAX_JWE_BYTES: Final = 64 * 1024
_RESERVED: Final = frozenset({"alg", "enc", "epk", "zip", "crit"})
#: What each decryption copies (shallow) instead of constructing a JWE: jwcrypto's constructor deep-copies
#: its header registry (about a sixth of a decryption). deserialize() replaces every per-token attribute;
#: the allow-list and the registry the copies share are only read.
_DECRYPTOR: Final = _jwe.JWE(algs=[JWE_ALG, *ALLOWED_ENC])


def encrypt_jwe(
    payload: bytes,
    recipient: Mapping[str, Any],
    *,
    enc: str = "A256GCM",
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Encrypt ``payload`` to the P-256 public JWK ``recipient`` as a compact JWE.

    ``headers`` adds protected header parameters (``kid``, ``cty``, ``typ``, …); it may not set the
    algorithm parameters. The recipient's ``kid``, if any, is copied into the header.
    """
    if enc not in ALLOWED_ENC:
        raise UsageError(f"enc must be one of {ALLOWED_ENC}")
    if recipient.get("kty") != "EC" or recipient.get("crv") != "P-256" or "d" in recipient:
        raise UsageError("the recipient must be a public P-256 JWK")
    header: dict[str, Any] = {"alg": JWE_ALG, "enc": enc}
    if isinstance(recipient.get("kid"), str):
        header["kid"] = recipient["kid"]
    for name, value in (headers or {}).items():
        if name in _RESERVED:
            raise UsageError(f"header {name!r} cannot be set")
        header[name] = value
    key = _jwk.JWK(**{k: recipient[k] for k in ("kty", "crv", "x", "y")})
    token = _jwe.JWE(payload, protected=json.dumps(header, separators=(",", ":")))
    token.add_recipient(key)
    result: str = token.serialize(compact=True)
    return result


def jwe_header(token: str, *, max_bytes: int = MAX_JWE_BYTES) -> dict[str, Any]:
    """The protected header of a compact JWE, checked against NetID's allow-list, without decrypting.

    Raises :class:`ParseError` for anything else: too large, not five segments, not JSON, another
    ``alg``/``enc``, a ``zip`` or ``crit`` member, or an ephemeral key that is not P-256.
    """
    if not isinstance(token, str) or not token.isascii():
        raise ParseError("JWE", "not an ASCII string")
    if len(token) > max_bytes:
        raise ParseError("JWE", f"larger than {max_bytes} bytes")
    segments = token.split(".")
    if len(segments) != 5:
        raise ParseError("JWE", "compact serialization needs exactly five segments")
    try:
        header = json.loads(b64url_decode(segments[0], "JWE header"))
    except (ValueError, RecursionError) as exc:
        raise ParseError("JWE", "protected header is not JSON") from exc
    if not isinstance(header, dict):
        raise ParseError("JWE", "protected header is not an object")
    if header.get("alg") != JWE_ALG or header.get("enc") not in ALLOWED_ENC:
        raise ParseError("JWE", f"only {JWE_ALG} with {'/'.join(ALLOWED_ENC)} is accepted")
    if "zip" in header or "crit" in header:
        raise ParseError("JWE", "compression and critical headers are not accepted")
    epk = header.get("epk")
    if not isinstance(epk, dict) or epk.get("kty") != "EC" or epk.get("crv") != "P-256":
        raise ParseError("JWE", "the ephemeral key must be a P-256 public key")
    if segments[1]:
        raise ParseError("JWE", "ECDH-ES carries no encrypted key")
    return header


def decrypt_jwe(
    token: str, private_key: ec.EllipticCurvePrivateKey, *, max_bytes: int = MAX_JWE_BYTES
) -> tuple[dict[str, Any], bytes]:
    """Decrypt a compact JWE addressed to ``private_key``; return ``(protected header, plaintext)``.

    :class:`ParseError` for a token :func:`jwe_header` refuses and for one that does not decrypt (wrong
    key, tampered ciphertext or tag, an ephemeral key off the curve).
    """
    header = jwe_header(token, max_bytes=max_bytes)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise UsageError("the decryption key must be a P-256 private key")
    key = _jwk.JWK.from_pyca(private_key)
    # jwcrypto would rebuild the private key from the numbers it just exported (a point multiplication,
    # a sixth of a decryption) for the ECDH; hand it the key object it came from instead (it caches the
    # object it builds under this name; if a later jwcrypto renames it, only the shortcut is lost)
    key._cache_pri_k = private_key
    token_obj = copy.copy(_DECRYPTOR)
    try:
        token_obj.deserialize(token, key=key)
    except (JWException, ValueError, TypeError, KeyError) as exc:  # jwcrypto's errors for bad input
        raise ParseError("JWE", "cannot be decrypted with this key") from exc
    plaintext: bytes = token_obj.payload
    return header, plaintext
