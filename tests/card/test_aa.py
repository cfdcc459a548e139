"""Active authentication: ECDSA (plain r||s) and RSA ISO/IEC 9796-2 scheme 1 (SHA-1, SHA-256)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from netid.card.icao.aa import sign_challenge, verify_active_authentication
from netid.errors import ActiveAuthenticationError

CHALLENGE = bytes.fromhex("0102030405060708")
EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
RSA_2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def spki(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_ecdsa_sign_verify() -> None:
    signature = sign_challenge(EC_KEY, CHALLENGE)
    assert len(signature) == 64
    verify_active_authentication(spki(EC_KEY), CHALLENGE, signature)
    with pytest.raises(ActiveAuthenticationError):
        verify_active_authentication(spki(EC_KEY), b"\x00" * 8, signature)
    with pytest.raises(ActiveAuthenticationError):  # DG14 says another hash
        verify_active_authentication(spki(EC_KEY), CHALLENGE, signature, hash_algorithm=hashes.SHA384())


@pytest.mark.parametrize("key", [RSA_KEY, RSA_2048])
@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()])
def test_rsa_iso9796_2_sign_verify(key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm) -> None:
    signature = sign_challenge(key, CHALLENGE, hash_algorithm=algorithm)
    assert len(signature) == key.key_size // 8
    verify_active_authentication(spki(key), CHALLENGE, signature)
    recovered = pow(int.from_bytes(signature, "big"), 65537, key.private_numbers().public_numbers.n)
    block = recovered.to_bytes(key.key_size // 8, "big")
    assert block[0] == 0x6A and block.endswith(b"\xbc" if isinstance(algorithm, hashes.SHA1) else b"\x34\xcc")
    with pytest.raises(ActiveAuthenticationError):
        verify_active_authentication(spki(key), b"\xff" * 8, signature)
    pinned = hashes.SHA256() if isinstance(algorithm, hashes.SHA1) else hashes.SHA1()
    with pytest.raises(ActiveAuthenticationError):
        verify_active_authentication(spki(key), CHALLENGE, signature, hash_algorithm=pinned)


def test_clone_with_other_key_fails() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ActiveAuthenticationError):
        verify_active_authentication(spki(EC_KEY), CHALLENGE, sign_challenge(other, CHALLENGE))


def test_unusable_keys() -> None:
    with pytest.raises(ActiveAuthenticationError):
        verify_active_authentication(b"\x30\x00", CHALLENGE, bytes(64))
    with pytest.raises(ActiveAuthenticationError):
        verify_active_authentication(spki(ed25519.Ed25519PrivateKey.generate()), CHALLENGE, bytes(64))


@settings(max_examples=60)
@given(st.binary(max_size=140), st.booleans())
def test_random_signatures_raise_only_aa_error(signature: bytes, use_rsa: bool) -> None:
    key = spki(RSA_KEY) if use_rsa else spki(EC_KEY)
    with pytest.raises(ActiveAuthenticationError):
        verify_active_authentication(key, CHALLENGE, signature)
