"""The verifier's hot-path shortcuts give exactly what the general code gives (bench/verify.py).

Each shortcut replaces a library call or a constructor with a cheaper route to the same result; these
tests hold each one to that result, including at the edges the shortcut handles itself.
"""

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from netid.credentials import jose, jwe
from netid.credentials._b64 import b64url_encode, b64url_sha256
from netid.credentials.jose import VerifyingKey, generate_signing_key, load_public_jwk, public_jwk
from netid.credentials.sdjwt.codec import Disclosure
from netid.credentials.sdjwt.verify import VerifiedSdJwt
from netid.errors import ParseError
from netid.verifier.answers import Answers
from tests.credentials._sdjwt_helpers import issue, present, verify

EDGE_HALVES = [bytes(32), b"\x00" * 31 + b"\x01", b"\x80" + bytes(31), b"\x00\x80" + bytes(30), b"\xff" * 32,
               b"\x00" * 5 + b"\x7f" + b"\x11" * 26, b"\x7f" + b"\xff" * 31]  # fmt: skip


def _dss(signature: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


@given(st.binary(min_size=64, max_size=64))
def test_der_signature_is_what_encode_dss_signature_makes(signature):
    assert jose._der_signature(signature) == _dss(signature)


@pytest.mark.parametrize("r", EDGE_HALVES)
@pytest.mark.parametrize("s", EDGE_HALVES)
def test_der_signature_at_the_integer_edges(r, s):
    """Zero, leading zero bytes, the high bit that needs a 0x00 in front, and both at once."""
    assert jose._der_signature(r + s) == _dss(r + s)


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_verify_accepts_the_signature_and_nothing_near_it(alg):
    key = generate_signing_key(alg)
    vk = load_public_jwk(public_jwk(key), cache=False)
    message = b"header.payload" * 50
    signature = jose.LocalSigner(key).sign(message)
    assert vk.verify(message, signature)
    for i in (0, 31, 32, 63):  # a bit flipped in R/r and in S/s
        flipped = bytearray(signature)
        flipped[i] ^= 0x01
        assert not vk.verify(message, bytes(flipped))
    assert not vk.verify(message + b".", signature)
    assert not vk.verify(message, signature + b"\x00")
    assert not vk.verify(message, bytes(64))
    other = load_public_jwk(public_jwk(generate_signing_key(alg)), cache=False)
    assert not other.verify(message, signature)


def test_ed25519_refuses_a_non_canonical_s():
    """libsodium, called directly, still refuses S + L (the same signature, malleated)."""
    key = generate_signing_key("EdDSA")
    vk = VerifyingKey(key.public_key())
    message = b"m"
    signature = key.sign(message)
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(signature[32:], "little") + order
    assert vk.verify(message, signature)
    assert not vk.verify(message, signature[:32] + s.to_bytes(32, "little"))


def test_holder_key_from_a_jwk_is_the_key_that_verifies():
    key = generate_signing_key("ES256")
    vk = load_public_jwk(public_jwk(key), cache=False)
    assert vk == VerifyingKey(key.public_key())
    assert vk.alg == "ES256" and vk.jwk() == public_jwk(key)
    with pytest.raises(AttributeError):
        vk.alg = "EdDSA"  # type: ignore[misc]


@pytest.mark.parametrize("member", ["kty", "crv", "x"])
@pytest.mark.parametrize("bad", [None, 1, ["EC"]])
def test_load_public_jwk_names_the_member_that_is_not_a_string(member, bad):
    jwk: dict[str, object] = dict(public_jwk(generate_signing_key("ES256")))
    if bad is None:
        del jwk[member]
    else:
        jwk[member] = bad
    with pytest.raises(ParseError, match=f"member '{member}' missing or not a string"):
        load_public_jwk(jwk, cache=False)


@given(st.binary(max_size=300))
def test_b64url_sha256_is_the_encoded_digest(data):
    assert b64url_sha256(data) == b64url_encode(hashlib.sha256(data).digest())


@given(st.text(max_size=8), st.none() | st.text(max_size=8), st.none() | st.booleans() | st.integers())
def test_a_parsed_disclosure_equals_the_one_created(salt, name, value):
    created = Disclosure.create(name, value, salt=salt)
    parsed = Disclosure.parse(created.encoded)
    assert parsed == created and type(parsed) is Disclosure
    assert (parsed.salt, parsed.name, parsed.value, parsed.digest) == (salt, name, value, created.digest)
    with pytest.raises(AttributeError):
        parsed.name = "other"  # type: ignore[misc]  # still frozen


def test_verified_and_answers_are_the_frozen_dataclasses_they_were():
    verified = verify(present(issue()))
    assert type(verified) is VerifiedSdJwt
    assert verified == VerifiedSdJwt(
        verified.header, verified.payload, verified.disclosures, verified.kb_header, verified.kb_payload
    )
    with pytest.raises(AttributeError):
        verified.payload = {}  # type: ignore[misc]
    from netid.testing import TestWorld
    from netid.verifier import Query

    world = TestWorld.create()
    request = world.request(Query(purpose="age check", age_over=18, region_in=["44"]))
    answers = world.verifier.verify(world.present(request), request)
    assert type(answers) is Answers
    assert answers == Answers(
        predicates=dict(answers.predicates),
        subject=answers.subject,
        assurance=answers.assurance,
        credential_kind=answers.credential_kind,
        netno=answers.netno,
    )
    with pytest.raises(TypeError):
        answers.predicates["age_over_18"] = False  # type: ignore[index]  # read-only mapping


# --- JWE: one prepared decryptor, copied per token; the caller's key object used for the ECDH ----------


def _response_key() -> tuple[ec.EllipticCurvePrivateKey, dict[str, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64url_encode(numbers.x.to_bytes(32, "big")),
           "y": b64url_encode(numbers.y.to_bytes(32, "big"))}  # fmt: skip
    return key, jwk


def test_jwe_decryptions_do_not_share_state():
    """Good, tampered, for another key, good again: each result is its token's own."""
    key, jwk = _response_key()
    _, other_jwk = _response_key()
    tokens = [jwe.encrypt_jwe(json.dumps({"n": i}).encode(), jwk) for i in range(3)]
    assert jwe.decrypt_jwe(tokens[0], key)[1] == b'{"n": 0}'
    h, k, iv, ct, tag = tokens[1].split(".")
    tampered = ".".join((h, k, iv, ct, tag[:-2] + ("AA" if tag[-2:] != "AA" else "AQ")))
    with pytest.raises(ParseError):
        jwe.decrypt_jwe(tampered, key)
    with pytest.raises(ParseError):
        jwe.decrypt_jwe(jwe.encrypt_jwe(b"{}", other_jwk), key)
    assert jwe.decrypt_jwe(tokens[2], key)[1] == b'{"n": 2}'
    assert jwe.decrypt_jwe(tokens[1], key)[1] == b'{"n": 1}'
    assert jwe._DECRYPTOR.plaintext is None and jwe._DECRYPTOR.objects == {}  # the template is untouched


def test_jwe_decryption_does_not_rebuild_the_private_key(monkeypatch):
    """jwcrypto is handed the caller's key object instead of rebuilding one from its numbers (a point
    multiplication). If a jwcrypto upgrade drops the shortcut, this fails; decryption itself still works."""
    key, jwk = _response_key()
    token = jwe.encrypt_jwe(b'{"a": 1}', jwk)

    def rebuilt(*args: object, **kwargs: object) -> None:
        raise AssertionError("the private key was rebuilt from its numbers")

    monkeypatch.setattr(ec.EllipticCurvePrivateNumbers, "private_key", rebuilt)
    assert jwe.decrypt_jwe(token, key)[1] == b'{"a": 1}'
