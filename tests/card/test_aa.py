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


def _raw_sign(key: rsa.RSAPrivateKey, block: bytes) -> bytes:
    """Sign an arbitrary representative with the bare RSA private operation (what a forger or a sloppy
    chip could produce), bypassing ISO/IEC 9796-2 formatting."""
    numbers = key.private_numbers()
    k = (key.key_size + 7) // 8
    return pow(int.from_bytes(block, "big"), numbers.d, numbers.public_numbers.n).to_bytes(k, "big")


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


@pytest.mark.parametrize("key", [RSA_KEY, RSA_2048])
@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()])
def test_rsa_representative_must_have_the_exact_layout(
    key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm
) -> None:
    k = key.key_size // 8
    trailer = b"\xbc" if isinstance(algorithm, hashes.SHA1) else b"\x34\xcc"
    m1_len = k - 1 - algorithm.digest_size - len(trailer)

    def block(m1: bytes, zeros: int = 0, header: bytes = b"\x6a") -> bytes:
        f = header + m1 + _digest(algorithm, m1 + CHALLENGE) + trailer
        return (b"\x00" * zeros + f).rjust(k, b"\x00")

    m1 = bytes(range(256))[:m1_len]
    verify_active_authentication(spki(key), CHALLENGE, _raw_sign(key, block(m1)))  # the exact layout passes
    for forged in (
        block(m1[1:], zeros=1),  # one extra leading zero, M1 one byte short
        block(m1[5:], zeros=5),  # several
        block(b""),  # empty M1, the rest zero-filled on the left
        block(m1[1:]),  # M1 short, shorter block left-padded with a zero
        block(m1, header=b"\x4a"),  # full recovery / other header
        block(m1[1:], header=b"\x6b\xba"),  # ISO 9796-2 padding nibbles: not what chips send here
    ):
        assert len(forged) == k
        with pytest.raises(ActiveAuthenticationError):
            verify_active_authentication(spki(key), CHALLENGE, _raw_sign(key, forged))


def test_rsa_keys_below_1024_bits_are_refused() -> None:
    # cryptography will not generate such a key; the public half is enough to be refused before any math
    small = rsa.RSAPublicNumbers(65537, (1 << 1015) + 0x1235).public_key()
    der = small.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ActiveAuthenticationError, match="1024"):
        verify_active_authentication(der, CHALLENGE, bytes(127))
