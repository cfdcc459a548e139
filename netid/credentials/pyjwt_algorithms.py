"""NetID's two JWS algorithms for PyJWT, for callers who want PyJWT's API.

:data:`JWS` is a private ``PyJWS`` instance with exactly ``EdDSA`` (Ed25519, on libsodium) and ``ES256``
(pinned to P-256) registered — never the global PyJWT registry, so ``none``, HMAC and every other
algorithm stay unavailable through it. NetID itself signs and verifies with
:mod:`netid.credentials.jose`; PyJWT is imported only by this module.
"""

from __future__ import annotations

import json
from typing import Any, Final

import jwt
import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import Algorithm, ECAlgorithm

from netid.credentials.jose import VerifyingKey, b64url_encode, json_loads, load_public_jwk

__all__ = ["JWS", "NaclEdDSAAlgorithm"]

_SIG_LEN: Final = 64


class _NaclEd25519Key:
    """Ed25519 key material in libsodium's format (64-byte secret key and/or 32-byte public key)."""

    __slots__ = ("pk", "sk")

    def __init__(self, sk: bytes | None, pk: bytes) -> None:
        self.sk = sk
        self.pk = pk


def _nacl_signing_key(key: ed25519.Ed25519PrivateKey) -> _NaclEd25519Key:
    # Derived per call, never cached in module state: a global cache would keep private keys alive
    # after their owner deleted them.
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(key.private_bytes_raw())
    return _NaclEd25519Key(sk, pk)


class NaclEdDSAAlgorithm(Algorithm):
    """PyJWT ``EdDSA`` (Ed25519 only) on libsodium. Accepts ``cryptography`` Ed25519 keys."""

    def prepare_key(self, key: Any) -> _NaclEd25519Key:
        if isinstance(key, _NaclEd25519Key):
            return key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return _nacl_signing_key(key)
        if isinstance(key, ed25519.Ed25519PublicKey):
            return _NaclEd25519Key(None, key.public_bytes_raw())
        if isinstance(key, VerifyingKey) and key.alg == "EdDSA":
            return _NaclEd25519Key(None, key.public_key.public_bytes_raw())  # type: ignore[union-attr]
        raise jwt.InvalidKeyError("EdDSA needs an Ed25519 key")

    def sign(self, msg: bytes, key: Any) -> bytes:
        prepared = self.prepare_key(key)
        if prepared.sk is None:
            raise jwt.InvalidKeyError("EdDSA signing needs a private key")
        signed: bytes = nacl.bindings.crypto_sign(msg, prepared.sk)
        return signed[:_SIG_LEN]

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        prepared = self.prepare_key(key)
        if len(sig) != _SIG_LEN:
            return False
        try:
            nacl.bindings.crypto_sign_open(sig + msg, prepared.pk)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
            return False
        return True

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        key = NaclEdDSAAlgorithm().prepare_key(key_obj)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(key.pk)}
        return jwk if as_dict else json.dumps(jwk)

    @staticmethod
    def from_jwk(jwk: str | dict[str, Any]) -> Any:
        data = json_loads(jwk) if isinstance(jwk, str) else jwk
        vk = load_public_jwk(data)
        if vk.alg != "EdDSA":
            raise jwt.InvalidKeyError("not an Ed25519 JWK")
        return vk.public_key


class _ES256Algorithm(ECAlgorithm):
    """PyJWT's ES256, pinned to P-256 keys (PyJWT itself would take any curve for ES256)."""

    def prepare_key(self, key: Any) -> Any:
        if isinstance(key, VerifyingKey):
            key = key.public_key
        if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise jwt.InvalidKeyError("ES256 needs a P-256 key")
        return key


def _make_jws() -> jwt.PyJWS:
    jws = jwt.PyJWS(algorithms=[])  # start empty: nothing but our two algorithms is ever registered
    jws.register_algorithm("EdDSA", NaclEdDSAAlgorithm())
    jws.register_algorithm("ES256", _ES256Algorithm(ECAlgorithm.SHA256))
    return jws


#: A PyJWT JWS instance with exactly :data:`~netid.credentials.jose.ALLOWED_ALGORITHMS` (EdDSA on
#: libsodium). Prefer :mod:`netid.credentials.jose`; this exists for code that wants PyJWT's API.
JWS: Final[jwt.PyJWS] = _make_jws()
