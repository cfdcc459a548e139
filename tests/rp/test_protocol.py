"""The protocol pieces an RP over HTTP needs (netid.oid4vp): per-transaction response URIs under a
registered prefix, and encrypted responses (direct_post.jwt) — what the RP builds, what a wallet accepts
and refuses, and the JWE between them."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from netid.credentials import jwe
from netid.credentials.jose import b64url_encode, decode_jws_unverified, json_dumps, jwk_thumbprint
from netid.errors import UsageError, VerificationError, WalletRefusal
from netid.oid4vp.certificate import rp_certificate_unverified
from netid.oid4vp.request import RESPONSE_ENC_VALUES, PresentationRequest
from netid.oid4vp.response import decrypt_response, encrypt_response, encryption_jwk
from netid.testing.world import TestWorld, fixed_key
from netid.verifier import Query, build_request
from tests.rp.kit import AGE, ENCRYPTION_KEY, PREFIX_URI
from tests.verifier.kit import register_rp, resign

TX = "Q2l0eS1vZi10aGUtdHJhbnM"  # 23 base64url characters, the shape of a transaction id
ENC_JWK = encryption_jwk(ENCRYPTION_KEY)


def _world(response_uris: tuple[str, ...] = (PREFIX_URI,)) -> TestWorld:
    w = TestWorld.create(credentials=2)
    w.rp_cert = register_rp(w, "shop.example", w.rp_key, response_uris=response_uris)
    return w


def _refused(w: TestWorld, request: str, code: str) -> None:
    with pytest.raises(WalletRefusal) as caught:
        w.wallet.present(request, now=w.clock(), consent=lambda p: True, amr="pin")
    assert caught.value.code == code, caught.value


# --- response URIs under a registered prefix -----------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "registered"),
    [
        (PREFIX_URI + TX, True),
        (PREFIX_URI + "A" * 22, True),  # the shortest segment: 22 characters, 128 bits
        (PREFIX_URI + "-_" * 64, True),  # the longest: 128
        (PREFIX_URI + "A" * 21, False),  # too short to hold 128 random bits
        (PREFIX_URI + "A" * 129, False),
        (PREFIX_URI, False),  # the prefix itself is not a response URI
        (PREFIX_URI + TX + "/", False),
        (PREFIX_URI + TX + "/more", False),  # two segments
        (PREFIX_URI + "x/" + TX, False),
        (PREFIX_URI + TX + "?tx=1", False),  # a query string
        (PREFIX_URI + TX + "#f", False),
        (PREFIX_URI + TX.replace("Q", "%51"), False),  # percent-encoding
        (PREFIX_URI + TX[:-1] + ".", False),
        ("https://shop.example.evil.example/netid/response/" + TX, False),  # a different host
        ("https://evil.example/netid/response/" + TX, False),
        ("http://shop.example/netid/response/" + TX, False),  # another scheme
        ("https://shop.example:8443/netid/response/" + TX, False),  # another port
        ("https://shop.example/netid/response", False),
        ("https://shop.example/netid/responses/" + TX, False),
    ],
)
def test_a_prefix_entry_admits_exactly_one_segment(uri: str, registered: bool) -> None:
    cert = rp_certificate_unverified(_world().rp_cert)
    assert cert.response_uri_registered(uri) is registered
    assert cert.response_uri_allowed(uri) is registered


def test_exact_entries_keep_exact_matching() -> None:
    exact = "https://shop.example/netid/response"
    cert = rp_certificate_unverified(_world((exact,)).rp_cert)
    assert cert.response_uri_registered(exact)
    assert not cert.response_uri_registered(exact + "/" + TX)
    assert not cert.response_uri_registered(exact + "/")
    # an entry ending in "/" but holding a query is exact too: the segment would land in the query
    odd = "https://shop.example/cb?x=/"
    cert = rp_certificate_unverified(_world((odd,)).rp_cert)
    assert cert.response_uri_registered(odd) and not cert.response_uri_registered(odd + TX)


def test_a_wallet_answers_at_a_per_transaction_uri() -> None:
    w = _world()
    request = w.request(AGE, response_uri=PREFIX_URI + TX)
    response = w.wallet.present(request.to_uri(), now=w.clock(), consent=lambda p: True, amr="pin")
    assert response.response_uri == PREFIX_URI + TX
    assert w.verifier.verify(dict(response.vp_token), request)["age_over_18"] is True


@pytest.mark.parametrize(
    "uri",
    [
        PREFIX_URI + TX + "?state=1",  # a query string
        PREFIX_URI + TX + "/x",  # two segments
        PREFIX_URI + "x/" + TX,
        "https://evil.example/netid/response/" + TX,  # a different host
        "https://shop.example.evil.example/netid/response/" + TX,
        PREFIX_URI,
        PREFIX_URI + "short",
    ],
)
def test_a_wallet_refuses_other_paths(uri: str) -> None:
    w = _world()
    request = w.request(AGE, response_uri=PREFIX_URI + TX)
    _refused(w, resign(w, request, lambda c: c.update(response_uri=uri)), "response_uri")


@pytest.mark.parametrize(
    "uri", [PREFIX_URI + TX + "?a=b", PREFIX_URI + TX + "/x", "https://evil.example/" + TX]
)
def test_build_request_refuses_other_paths(uri: str) -> None:
    w = _world()
    with pytest.raises(UsageError, match="not registered"):
        w.request(AGE, response_uri=uri)


def test_loopback_http_prefix_only_in_development_mode() -> None:
    w = TestWorld.create(credentials=2)
    prefix = "http://127.0.0.1:8080/netid/response/"
    w.rp_cert = register_rp(w, "shop.example", w.rp_key, response_uris=(prefix,), allow_loopback_http=True)
    request = w.request(AGE, response_uri=prefix + TX)
    _refused(w, request.to_uri(), "response_uri")
    w.wallet.allow_loopback_http = True
    response = w.wallet.present(request.to_uri(), now=w.clock(), consent=lambda p: True, amr="pin")
    assert response.response_uri == prefix + TX


# --- direct_post.jwt: the request ---------------------------------------------------------------------


def _encrypted_request(w: TestWorld, **kw: Any) -> PresentationRequest:
    return w.request(
        AGE, response_uri=PREFIX_URI + TX, response_mode="direct_post.jwt", encryption_jwk=ENC_JWK, **kw
    )


def test_an_encrypted_request_publishes_the_key_and_the_encryptions() -> None:
    w = _world()
    request = _encrypted_request(w)
    claims = decode_jws_unverified(request.request_object)[1]
    assert claims["response_mode"] == "direct_post.jwt"
    metadata = claims["client_metadata"]
    assert metadata["jwks"] == {"keys": [ENC_JWK]}
    assert metadata["encrypted_response_enc_values_supported"] == list(RESPONSE_ENC_VALUES)
    assert "vp_formats_supported" in metadata
    [key] = metadata["jwks"]["keys"]
    assert (key["use"], key["alg"], key["kty"], key["crv"]) == ("enc", "ECDH-ES", "EC", "P-256")
    assert key["kid"] == jwk_thumbprint(key) and "d" not in key
    assert request.response_mode == "direct_post.jwt"
    assert request.response_encryption is not None and request.response_encryption.enc == "A256GCM"
    # stored and restored, it is the same request
    again = PresentationRequest.from_dict(request.to_dict())
    assert (
        again.response_encryption == request.response_encryption and again.response_mode == "direct_post.jwt"
    )


def test_the_jwe_names_match_the_credentials_module() -> None:
    assert set(RESPONSE_ENC_VALUES) == set(jwe.ALLOWED_ENC)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"response_mode": "direct_post.jwt"}, "needs the RP's encryption_jwk"),
        ({"encryption_jwk": ENC_JWK}, "only for response_mode"),
        ({"response_mode": "fragment"}, "response_mode must be one of"),
        ({"response_mode": "direct_post.jwt", "encryption_jwk": ENC_JWK, "enc_values": ()}, "enc_values"),
        (
            {"response_mode": "direct_post.jwt", "encryption_jwk": ENC_JWK, "enc_values": ("A128CBC-HS256",)},
            "enc_values",
        ),
        (
            {"response_mode": "direct_post.jwt", "encryption_jwk": {**ENC_JWK, "alg": "ECDH-ES+A128KW"}},
            "not a key a wallet encrypts to",
        ),
        (
            {"response_mode": "direct_post.jwt", "encryption_jwk": {**ENC_JWK, "use": "sig"}},
            "not a key a wallet encrypts to",
        ),
        (
            {
                "response_mode": "direct_post.jwt",
                "encryption_jwk": {k: v for k, v in ENC_JWK.items() if k != "kid"},
            },
            "not a key a wallet encrypts to",
        ),
    ],
)
def test_build_request_refuses_what_a_wallet_cannot_encrypt_to(kw: dict[str, Any], match: str) -> None:
    w = _world()
    with pytest.raises(UsageError, match=match):
        w.request(AGE, response_uri=PREFIX_URI + TX, **kw)


def _bad_metadata() -> list[Any]:
    private = ENCRYPTION_KEY.private_numbers().private_value.to_bytes(32, "big")
    other_curve = encryption_jwk(ENCRYPTION_KEY) | {"crv": "P-384"}
    off_curve = ENC_JWK | {"y": b64url_encode(bytes(31) + b"\x01")}
    vpf = {"vp_formats_supported": {"dc+sd-jwt": {}}}
    return [
        vpf,  # no jwks
        vpf | {"jwks": {"keys": []}},
        vpf | {"jwks": {"keys": [ENC_JWK] * 9}},
        vpf | {"jwks": []},
        vpf | {"jwks": {"keys": [ENC_JWK | {"d": b64url_encode(private)}]}},  # a private key
        vpf | {"jwks": {"keys": [{k: v for k, v in ENC_JWK.items() if k != "kid"}]}},
        vpf | {"jwks": {"keys": [{k: v for k, v in ENC_JWK.items() if k != "alg"}]}},  # alg MUST be present
        vpf | {"jwks": {"keys": [ENC_JWK | {"use": "sig"}]}},
        vpf | {"jwks": {"keys": [other_curve]}},
        vpf | {"jwks": {"keys": [off_curve]}},
        vpf | {"jwks": {"keys": [ENC_JWK]}, "encrypted_response_enc_values_supported": []},
        vpf | {"jwks": {"keys": [ENC_JWK]}, "encrypted_response_enc_values_supported": "A128GCM"},
        vpf | {"jwks": {"keys": [ENC_JWK]}, "encrypted_response_enc_values_supported": ["A128CBC-HS256"]},
    ]


@pytest.mark.parametrize("metadata", _bad_metadata())
def test_a_wallet_refuses_an_encrypted_request_it_cannot_encrypt_to(metadata: Any) -> None:
    w = _world()
    request = _encrypted_request(w)
    _refused(w, resign(w, request, lambda c: c.update(client_metadata=metadata)), "request")


def test_a_wallet_takes_the_first_usable_key_and_encryption() -> None:
    w = _world()
    request = _encrypted_request(w)
    other = encryption_jwk(ec.generate_private_key(ec.SECP256R1()))
    metadata = {
        "jwks": {
            "keys": [ENC_JWK | {"use": "sig"}, {"kty": "OKP", "crv": "X25519", "x": "AA", "kid": "x"}, other]
        },
        "encrypted_response_enc_values_supported": ["A192GCM", "A128GCM", "A256GCM"],
    }
    token = resign(w, request, lambda c: c.update(client_metadata=metadata))
    response = w.wallet.present(token, now=w.clock(), consent=lambda p: True, amr="pin")
    assert response.encryption is not None
    assert response.encryption.kid == other["kid"] and response.encryption.enc == "A128GCM"
    # without the member, A128GCM is the default (OpenID4VP 1.0 §5.1)
    metadata = {"jwks": {"keys": [ENC_JWK]}}
    token = resign(w, request, lambda c: c.update(client_metadata=metadata))
    response = w.wallet.present(token, now=w.clock(), consent=lambda p: True, amr="pin")
    assert response.encryption is not None and response.encryption.enc == "A128GCM"


def test_a_direct_post_request_ignores_jwks() -> None:
    w = _world()
    request = w.request(AGE, response_uri=PREFIX_URI + TX)
    metadata = {"jwks": {"keys": ["not a key"]}}
    token = resign(w, request, lambda c: c.update(client_metadata=metadata))
    response = w.wallet.present(token, now=w.clock(), consent=lambda p: True, amr="pin")
    assert response.encryption is None and set(response.form()) == {"vp_token", "state"}


# --- direct_post.jwt: the response --------------------------------------------------------------------


def test_the_wallet_encrypts_and_the_rp_decrypts() -> None:
    w = _world()
    request = _encrypted_request(w)
    response = w.wallet.present(request.to_uri(), now=w.clock(), consent=lambda p: True, amr="pin")
    form = response.form()
    assert set(form) == {"response"}
    header = jwe.jwe_header(form["response"])
    assert (header["alg"], header["enc"], header["kid"]) == ("ECDH-ES", "A256GCM", ENC_JWK["kid"])
    # nothing readable travels: not the presentation, not the state
    presentation = response.vp_token["netcert"][0]
    for part in (presentation, presentation.split("~")[1], request.state):
        assert part not in form["response"]
    params = decrypt_response(form["response"], ENCRYPTION_KEY, kid=ENC_JWK["kid"], max_bytes=256 * 1024)
    assert params == {"vp_token": dict(response.vp_token), "state": request.state}
    assert w.verifier.verify(params["vp_token"], request)["age_over_18"] is True
    assert form != response.form()  # a fresh ephemeral key each time


def _encrypted(payload: bytes, *, kid: str = ENC_JWK["kid"], enc: str = "A128GCM") -> str:
    return jwe.encrypt_jwe(payload, ENC_JWK | {"kid": kid}, enc=enc)


@pytest.mark.parametrize(
    "token",
    [
        _encrypted(b'{"vp_token": {}}', kid="another-key"),  # names another key
        _encrypted(b"[1, 2]"),  # not an object
        _encrypted(b"not json"),
        jwe.encrypt_jwe(b"{}", encryption_jwk(ec.generate_private_key(ec.SECP256R1()))),  # another key
        "a.b.c.d.e",
        "",
        "x" * 300_000,  # larger than the cap
    ],
)
def test_the_rp_refuses_what_it_cannot_read(token: str) -> None:
    with pytest.raises(VerificationError) as caught:
        decrypt_response(token, ENCRYPTION_KEY, kid=ENC_JWK["kid"], max_bytes=256 * 1024)
    assert caught.value.code == "malformed"


def test_a_tampered_response_does_not_decrypt() -> None:
    token = _encrypted(json_dumps({"vp_token": {"netcert": ["x"]}, "state": "s"}))
    head, key, iv, ciphertext, tag = token.split(".")
    flipped = ciphertext[:-2] + ("A" if ciphertext[-2] != "A" else "B") + ciphertext[-1]
    with pytest.raises(VerificationError, match="not usable"):
        decrypt_response(
            ".".join((head, key, iv, flipped, tag)), ENCRYPTION_KEY, kid=ENC_JWK["kid"], max_bytes=65536
        )


def test_encryption_jwk_needs_p256() -> None:
    assert encryption_jwk(ENCRYPTION_KEY.public_key()) == ENC_JWK
    with pytest.raises(UsageError):
        encryption_jwk(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(UsageError):
        encryption_jwk(fixed_key("EdDSA", "x"))  # type: ignore[arg-type]


def test_encrypt_response_uses_the_requests_encryption() -> None:
    w = _world()
    request = _encrypted_request(w)
    assert request.response_encryption is not None
    form = encrypt_response(
        {"vp_token": {"netcert": ["p"]}, "state": request.state}, request.response_encryption
    )
    header = jwe.jwe_header(form["response"])
    assert header["enc"] == request.response_encryption.enc and header["kid"] == ENC_JWK["kid"]


def test_build_request_takes_a_direct_post_request_unchanged() -> None:
    """The default request is what it was before direct_post.jwt existed (specs/examples/request.json)."""
    w = _world()
    key = w.rp_key
    request = build_request(
        Query(purpose="age check", age_over=18), rp_key=key, rp_certificate=w.rp_cert,
        response_uri=PREFIX_URI + TX, now=w.clock(),
    )  # fmt: skip
    claims = decode_jws_unverified(request.request_object)[1]
    assert claims["response_mode"] == "direct_post"
    assert set(claims["client_metadata"]) == {"vp_formats_supported"}
    assert request.response_encryption is None
