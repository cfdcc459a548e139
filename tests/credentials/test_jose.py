"""netid.credentials.jose: the algorithm allow-list, keys, JWKs and compact JWS."""

import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from netid.credentials import pyjwt_algorithms
from netid.credentials.jose import (
    ALLOWED_ALGORITHMS,
    VerifyingKey,
    alg_for_key,
    b64url_decode,
    b64url_encode,
    check_algorithm,
    decode_jws_unverified,
    generate_signing_key,
    jwk_thumbprint,
    load_public_jwk,
    public_jwk,
    sign_jws,
    verify_jws_signature,
    verifying_key,
)
from netid.errors import ParseError, UsageError, VerificationError

ALGS = ["EdDSA", "ES256"]


def test_allow_list_is_exactly_eddsa_and_es256():
    assert ALLOWED_ALGORITHMS == ("EdDSA", "ES256")


@pytest.mark.parametrize("alg", ALGS)
def test_sign_decode_verify_round_trip(alg):
    key = generate_signing_key(alg)
    assert alg_for_key(key) == alg
    token = sign_jws(
        {"sub": "x", "name": "张三"}, key, typ="example+jwt", kid="k1", extra_headers={"x5u": "u"}
    )
    header, payload, signing_input, signature = decode_jws_unverified(token)
    assert header == {"alg": alg, "typ": "example+jwt", "kid": "k1", "x5u": "u"}
    assert payload == {"sub": "x", "name": "张三"}
    assert signing_input == token.rsplit(".", 1)[0].encode()
    assert len(signature) == 64
    # Compact JSON: no whitespace between tokens.
    assert b" " not in b64url_decode(token.split(".")[0])
    vk = load_public_jwk(public_jwk(key))
    assert verify_jws_signature(signing_input, signature, alg, vk)
    assert verify_jws_signature(signing_input, signature, alg, key.public_key())  # cryptography key too
    tampered = signing_input[:-1] + (b"A" if signing_input[-1:] != b"A" else b"B")
    assert not verify_jws_signature(tampered, signature, alg, vk)
    assert not verify_jws_signature(signing_input, signature[:-1], alg, vk)
    assert not verify_jws_signature(signing_input, bytes(64), alg, vk)


@pytest.mark.parametrize("alg", ALGS)
def test_verify_refuses_key_alg_mismatch(alg):
    key = generate_signing_key(alg)
    token = sign_jws({}, key, typ="t")
    _, _, si, sig = decode_jws_unverified(token)
    other = "ES256" if alg == "EdDSA" else "EdDSA"
    assert not verify_jws_signature(si, sig, other, verifying_key(key))


@pytest.mark.parametrize(
    "alg", ["none", "HS256", "HS512", "RS256", "PS256", "ES384", "ES256K", "Ed25519", ""]
)
def test_disallowed_algorithms(alg):
    key = generate_signing_key("EdDSA")
    _, _, si, sig = decode_jws_unverified(sign_jws({}, key, typ="t"))
    assert not verify_jws_signature(si, sig, alg, verifying_key(key))
    with pytest.raises(VerificationError) as exc:
        check_algorithm(alg)
    assert exc.value.code == "algorithm"


def test_check_algorithm_can_narrow_but_not_widen():
    assert check_algorithm("EdDSA") == "EdDSA"
    with pytest.raises(VerificationError):
        check_algorithm("ES256", ("EdDSA",))
    with pytest.raises(VerificationError):
        check_algorithm("HS256", ("HS256", "EdDSA"))
    with pytest.raises(VerificationError):
        check_algorithm(None)


def test_pyjws_instance_uses_only_the_allow_list():
    key = generate_signing_key("EdDSA")
    token = sign_jws({"a": 1}, key, typ="t")
    assert json.loads(pyjwt_algorithms.JWS.decode(token, key.public_key(), algorithms=["EdDSA"])) == {"a": 1}
    assert set(pyjwt_algorithms.JWS.get_algorithms()) == {"EdDSA", "ES256"}
    with pytest.raises(NotImplementedError):
        pyjwt_algorithms.JWS.encode(b"{}", "secret", algorithm="HS256")
    hs = jwt.encode({"a": 1}, "secret-of-at-least-32-bytes-long!", algorithm="HS256")
    with pytest.raises(jwt.exceptions.InvalidAlgorithmError):
        pyjwt_algorithms.JWS.decode(hs, "secret-of-at-least-32-bytes-long!", algorithms=["HS256"])
    # The global PyJWT registry is untouched: its EdDSA is still the cryptography one.
    assert type(jwt.PyJWS().get_algorithm_by_name("EdDSA")).__name__ != "NaclEdDSAAlgorithm"
    # PyJWT tokens signed by our EdDSA verify with PyJWT's own (cryptography) EdDSA and vice versa.
    assert jwt.decode(token, key.public_key(), algorithms=["EdDSA"]) == {"a": 1}
    theirs = jwt.encode({"b": 2}, key, algorithm="EdDSA")
    assert json.loads(pyjwt_algorithms.JWS.decode(theirs, key.public_key(), algorithms=["EdDSA"])) == {"b": 2}


def test_es256_signatures_are_raw_r_s_and_interoperate_with_pyjwt():
    key = generate_signing_key("ES256")
    token = sign_jws({"a": 1}, key, typ="t")
    assert jwt.decode(token, key.public_key(), algorithms=["ES256"]) == {"a": 1}


def test_key_types():
    with pytest.raises(UsageError):
        generate_signing_key("HS256")
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(UsageError):
        alg_for_key(p384)
    with pytest.raises(UsageError):
        sign_jws({}, p384, typ="t")
    with pytest.raises(UsageError):
        verifying_key(p384.public_key())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(UsageError):
        alg_for_key(rsa_key)  # type: ignore[arg-type]
    assert not verify_jws_signature(b"x", bytes(64), "ES256", p384.public_key())


def test_extra_headers_cannot_override_alg():
    key = generate_signing_key()
    for name in ("alg", "typ", "kid", "crit"):
        with pytest.raises(UsageError):
            sign_jws({}, key, typ="t", extra_headers={name: "x"})


@pytest.mark.parametrize("alg", ALGS)
def test_public_jwk_and_verifying_key(alg):
    key = generate_signing_key(alg)
    jwk = public_jwk(key)
    assert "d" not in jwk
    assert jwk == public_jwk(key.public_key())
    vk = load_public_jwk(jwk)
    assert vk == verifying_key(key) == VerifyingKey(key.public_key())
    assert hash(vk) == hash(verifying_key(key))
    assert vk.jwk() == jwk
    assert load_public_jwk(dict(jwk)) is vk  # cached
    assert load_public_jwk({**jwk, "alg": alg, "kid": "k", "use": "sig"}) is vk
    if alg == "EdDSA":
        assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
        assert isinstance(vk.public_key, ed25519.Ed25519PublicKey)
    else:
        assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
        assert len(b64url_decode(jwk["x"])) == len(b64url_decode(jwk["y"])) == 32


def test_jwk_thumbprint_follows_rfc7638():
    key = generate_signing_key("ES256")
    jwk = public_jwk(key)
    canonical = '{"crv":"P-256","kty":"EC","x":"' + jwk["x"] + '","y":"' + jwk["y"] + '"}'
    expected = b64url_encode(hashlib.sha256(canonical.encode()).digest())
    assert jwk_thumbprint(jwk) == expected
    # Member order and optional members do not matter.
    assert jwk_thumbprint({"y": jwk["y"], "kid": "k", **jwk}) == expected
    okp = public_jwk(generate_signing_key("EdDSA"))
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + okp["x"] + '"}'
    assert jwk_thumbprint(okp) == b64url_encode(hashlib.sha256(canonical.encode()).digest())
    for bad in ({}, {"kty": "RSA", "n": "x", "e": "AQAB"}, {"kty": "EC", "crv": "P-256", "x": "a"}, []):
        with pytest.raises(ParseError):
            jwk_thumbprint(bad)  # type: ignore[arg-type]


def _ed_jwk():
    return public_jwk(generate_signing_key("EdDSA"))


def _ec_jwk():
    return public_jwk(generate_signing_key("ES256"))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda j: {**j, "kty": "RSA"},
        lambda j: {**j, "crv": "X25519"},
        lambda j: {**j, "crv": "Ed448"},
        lambda j: {**j, "x": j["x"][:-2]},
        lambda j: {**j, "x": j["x"] + "="},
        lambda j: {**j, "x": 5},
        lambda j: {k: v for k, v in j.items() if k != "x"},
        lambda j: {**j, "d": j["x"]},
        lambda j: {**j, "alg": "ES256"},
        lambda j: {**j, "y": j["x"]},
    ],
)
def test_load_public_jwk_rejects_bad_okp(mutate):
    with pytest.raises(ParseError):
        load_public_jwk(mutate(_ed_jwk()))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda j: {**j, "crv": "P-384"},
        lambda j: {**j, "crv": "secp256k1"},
        lambda j: {**j, "y": j["x"]},  # (x, x) is not on the curve
        lambda j: {**j, "x": b64url_encode(b64url_decode(j["x"])[1:])},  # short coordinate
        lambda j: {k: v for k, v in j.items() if k != "y"},
        lambda j: {**j, "alg": "EdDSA"},
        lambda j: {**j, "d": j["x"]},
    ],
)
def test_load_public_jwk_rejects_bad_ec(mutate):
    with pytest.raises(ParseError):
        load_public_jwk(mutate(_ec_jwk()))


@pytest.mark.parametrize("bad", [None, [], "jwk", {"kty": "oct", "k": "c2VjcmV0"}])
def test_load_public_jwk_rejects_non_jwks(bad):
    with pytest.raises(ParseError):
        load_public_jwk(bad)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "e30.e30",
        "e30.e30.e30.",
        "W10.e30.",  # header is an array
        "e30.W10.",  # payload is an array
        "e30=.e30.",  # padding
        "e30.e3+.",  # standard alphabet
        "bm90IGpzb24.e30.",  # not JSON
        "e30.eyJhIjpOYU59.",  # NaN is not JSON
        "e30.e30.A",  # impossible length
        "e30.e30.AB",  # non-canonical trailing bits
        "e30.e30.é",
    ],
)
def test_decode_jws_unverified_rejects_malformed(token):
    with pytest.raises(ParseError):
        decode_jws_unverified(token)


def test_decode_jws_unverified_rejects_deep_and_huge_json():
    deep = b64url_encode(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ParseError):
        decode_jws_unverified(f"e30.{deep}.")
    huge = b64url_encode(b'{"a":' + b"9" * 5000 + b"}")
    with pytest.raises(ParseError):
        decode_jws_unverified(f"e30.{huge}.")


def test_hs256_token_with_public_key_as_secret_never_verifies():
    key = generate_signing_key("EdDSA")
    jwk = public_jwk(key)
    h = b64url_encode(b'{"alg":"HS256","typ":"t"}')
    p = b64url_encode(b"{}")
    si = f"{h}.{p}".encode()
    for secret in (json.dumps(jwk).encode(), b64url_decode(jwk["x"])):
        sig = hmac.new(secret, si, hashlib.sha256).digest()
        header, _, si2, sig2 = decode_jws_unverified(f"{h}.{p}.{b64url_encode(sig)}")
        assert header["alg"] == "HS256"
        assert not verify_jws_signature(si2, sig2, "HS256", verifying_key(key))
