"""OpenID4VCI 1.0 key attestations (netid/oid4vci/key_attestation.py): one negative test per check that
flips exactly one thing, the boundaries of the time checks, and properties — whatever the input, only
``IssuanceError`` ``invalid_proof`` / ``invalid_nonce`` comes out, never raised from a bug."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.credentials.jose import (
    LocalSigner,
    SigningKey,
    b64url_encode,
    decode_jws_unverified,
    generate_signing_key,
    public_jwk,
    verifying_key,
)
from netid.errors import IssuanceError, ParseError, UsageError, VerificationError
from netid.oid4vci.key_attestation import (
    ISO_18045_BASIC,
    ISO_18045_HIGH,
    ISO_18045_MODERATE,
    KEY_ATTESTATION_TYP,
    MAX_ATTESTATION_AGE,
    MAX_ATTESTATION_LENGTH,
    KeyAttestationPolicy,
    KeyAttestationRequirement,
    build_key_attestation,
    load_attester_keys,
    verify_key_attestation,
)
from netid.policy import DEFAULT_POLICY
from netid.testing.world import fixed_key
from tests.strategies import mutated

NOW = 1_750_000_000
LEEWAY = DEFAULT_POLICY.leeway
KID = "wallet-provider-1"
#: TEST keys derived from public labels (netid.testing.world.fixed_key)
ATTESTER = fixed_key("ES256", "key-attestation tests|attester")
OTHER = fixed_key("ES256", "key-attestation tests|someone else")
HOLDERS = [fixed_key("ES256", f"key-attestation tests|holder {i}") for i in range(3)]
HOLDER_JWKS = [public_jwk(k) for k in HOLDERS]
ATTESTERS = {KID: verifying_key(ATTESTER), "ed-provider": verifying_key(fixed_key("EdDSA", "kat|ed"))}
NONCE = "c-nonce-0123456789"
REQUIRED = KeyAttestationRequirement(key_storage=(ISO_18045_HIGH,), user_authentication=(ISO_18045_MODERATE,))
MAX_KEYS = 5
CODES = {"invalid_proof", "invalid_nonce"}

HEADER: dict[str, Any] = {"alg": "ES256", "typ": KEY_ATTESTATION_TYP, "kid": KID}
CLAIMS: dict[str, Any] = {
    "iat": NOW,
    "nonce": NONCE,
    "attested_keys": HOLDER_JWKS,
    "key_storage": [ISO_18045_HIGH],
    "user_authentication": [ISO_18045_MODERATE],
}
DROP = object()  # a value that deletes the member


def jws(header: dict[str, Any], claims: dict[str, Any], key: SigningKey = ATTESTER) -> str:
    """A compact JWS with exactly this header and payload (sign_jws refuses alg/crit overrides)."""
    signing_input = (
        f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(claims).encode())}"
    )
    return f"{signing_input}.{b64url_encode(LocalSigner(key).sign(signing_input.encode()))}"


def forged(header: dict[str, Any] | None = None, key: SigningKey = ATTESTER, **claims: Any) -> str:
    """The valid attestation with header members and claims replaced (``DROP`` deletes one)."""
    h = {k: v for k, v in {**HEADER, **(header or {})}.items() if v is not DROP}
    c = {k: v for k, v in {**CLAIMS, **claims}.items() if v is not DROP}
    return jws(h, c, key)


def jws_of_length(
    length: int, header: dict[str, Any], claims: dict[str, Any], key: SigningKey = ATTESTER
) -> str:
    """:func:`jws` grown to exactly ``length`` characters by a ``pad`` claim (and, for the lengths
    base64url skips, a ``pad`` header member): for the size limits' boundaries."""
    for extra in ({}, {"pad": ""}, {"pad": "x"}):
        base = len(jws(header | extra, claims | {"pad": ""}, key))
        guess = (length - base) * 3 // 4
        for size in range(max(0, guess - 3), guess + 4):
            token = jws(header | extra, claims | {"pad": "x" * size}, key)
            if len(token) == length:
                return token
    raise AssertionError(f"no JWS of {length} characters")


def check(token: object, **kw: Any) -> Any:
    options: dict[str, Any] = {
        "attesters": ATTESTERS, "now": NOW, "nonce": NONCE, "max_keys": MAX_KEYS, "requirement": REQUIRED,
    }  # fmt: skip
    return verify_key_attestation(token, **(options | kw))


def refused(token: object, code: str = "invalid_proof", **kw: Any) -> IssuanceError:
    with pytest.raises(IssuanceError) as caught:
        check(token, **kw)
    assert caught.value.code == code, caught.value
    assert_deliberate(caught.value)
    return caught.value


def assert_deliberate(exc: IssuanceError) -> None:
    """The oracle: a documented code, raised on purpose — from nothing, or from NetID's own ParseError /
    VerificationError (never translated from a TypeError, KeyError, … a catch-all turned into a code)."""
    assert exc.code in CODES, exc.code
    for link in (exc.__cause__, exc.__context__):
        assert link is None or isinstance(link, ParseError | VerificationError), repr(link)


# --- what a valid attestation gives -------------------------------------------------------------------


def test_built_attestation_verifies_with_keys_in_order() -> None:
    token = build_key_attestation(
        ATTESTER, HOLDER_JWKS, kid=KID, iat=NOW, exp=NOW + 300, nonce=NONCE, key_storage=[ISO_18045_HIGH],
        user_authentication=[ISO_18045_MODERATE], certification="https://cert.example/se", issuer="wp",
    )  # fmt: skip
    result = check(token)
    assert result.public_jwks() == HOLDER_JWKS
    assert [verifying_key(k) for k in HOLDERS] == list(result.attested_keys)
    assert (result.key_storage, result.user_authentication) == ((ISO_18045_HIGH,), (ISO_18045_MODERATE,))
    assert result.attester == KID
    header, claims, _, _ = decode_jws_unverified(token)  # what goes on the wire
    assert header == {"alg": "ES256", "typ": "key-attestation+jwt", "kid": KID}
    assert claims["iss"] == "wp" and claims["exp"] == NOW + 300 and claims["certification"]


def test_the_forged_baseline_is_valid() -> None:
    """Every negative test below changes one thing of this token."""
    assert check(forged()).public_jwks() == HOLDER_JWKS


def test_an_ed25519_attester_and_an_application_typ() -> None:
    token = forged({"alg": "EdDSA", "kid": "ed-provider", "typ": "application/Key-Attestation+JWT"},
                   key=fixed_key("EdDSA", "kat|ed"))  # fmt: skip
    assert check(token).attester == "ed-provider"


def test_without_a_nonce_endpoint_the_nonce_is_not_checked() -> None:
    assert check(forged(nonce=DROP), nonce=None).attester == KID
    assert check(forged(nonce="anything"), nonce=None).attester == KID


def test_an_empty_requirement_asks_nothing_more() -> None:
    result = check(
        forged(key_storage=DROP, user_authentication=DROP), requirement=KeyAttestationRequirement()
    )
    assert result.key_storage == () and result.user_authentication == ()
    assert check(forged(key_storage=["https://eco.example/level-7"]), requirement=KeyAttestationRequirement())


def test_one_accepted_value_is_enough() -> None:
    either = KeyAttestationRequirement(key_storage=(ISO_18045_MODERATE, ISO_18045_HIGH))
    assert check(forged(key_storage=[ISO_18045_MODERATE]), requirement=either).key_storage == (
        ISO_18045_MODERATE,
    )
    assert check(forged(key_storage=["vendor-x", ISO_18045_HIGH]), requirement=either)


@pytest.mark.parametrize(
    ("claims", "ok"),
    [
        ({"iat": NOW + LEEWAY}, True),
        ({"iat": NOW + LEEWAY + 1}, False),
        ({"iat": NOW - MAX_ATTESTATION_AGE - LEEWAY}, True),
        ({"iat": NOW - MAX_ATTESTATION_AGE - LEEWAY - 1}, False),
        ({"iat": NOW - 100, "exp": NOW - LEEWAY + 1}, True),
        ({"iat": NOW - 100, "exp": NOW - LEEWAY}, False),
    ],
)
def test_time_boundaries(claims: dict[str, Any], ok: bool) -> None:
    if ok:
        assert check(forged(**claims))
    else:
        refused(forged(**claims))


def test_max_age_is_the_callers() -> None:
    token = forged(iat=NOW - 3000)
    refused(token)
    assert check(token, max_age=3600)


def test_size_boundary() -> None:
    assert check(jws_of_length(MAX_ATTESTATION_LENGTH, HEADER, CLAIMS)).attester == KID
    refused(jws_of_length(MAX_ATTESTATION_LENGTH + 1, HEADER, CLAIMS))


def test_the_smallest_limits_are_taken() -> None:
    assert len(check(forged(attested_keys=HOLDER_JWKS[:1]), max_keys=1).attested_keys) == 1
    refused(forged(attested_keys=HOLDER_JWKS[:2]), max_keys=1)
    token = forged(iat=NOW - 1 - LEEWAY)
    assert check(token, max_age=1) and KeyAttestationPolicy(ATTESTERS, max_age=1).max_age == 1
    refused(forged(iat=NOW - 2 - LEEWAY), max_age=1)


def test_a_status_object_is_taken() -> None:
    """Not checked (the module docstring), but an object is what Appendix D allows there."""
    assert check(forged(status={"status_list": {"idx": 7, "uri": "https://wp.example/status"}}))


# --- one negative test per check ------------------------------------------------------------------------

RSA_JWK = {"kty": "RSA", "n": "sXch", "e": "AQAB"}
PRIVATE = {**HOLDER_JWKS[0], "d": "AAAA"}
SIX = [public_jwk(fixed_key("ES256", f"kat|six {i}")) for i in range(MAX_KEYS + 1)]

NEGATIVE: list[tuple[str, Callable[[], object], str]] = [
    ("not a string", lambda: None, "invalid_proof"),
    ("bytes", lambda: forged().encode(), "invalid_proof"),
    ("two segments", lambda: forged().rsplit(".", 1)[0], "invalid_proof"),
    ("too long", lambda: forged(certification="x" * MAX_ATTESTATION_LENGTH), "invalid_proof"),
    ("alg none", lambda: forged({"alg": "none"}), "invalid_proof"),
    ("alg HS256", lambda: forged({"alg": "HS256"}), "invalid_proof"),
    ("alg missing", lambda: forged({"alg": DROP}), "invalid_proof"),
    ("alg of the other key type", lambda: forged({"alg": "EdDSA"}), "invalid_proof"),
    ("typ of a key proof", lambda: forged({"typ": "openid4vci-proof+jwt"}), "invalid_proof"),
    ("typ missing", lambda: forged({"typ": DROP}), "invalid_proof"),
    ("crit", lambda: forged({"crit": ["exp"]}), "invalid_proof"),
    ("kid missing", lambda: forged({"kid": DROP}), "invalid_proof"),
    ("kid not a string", lambda: forged({"kid": [KID]}), "invalid_proof"),
    ("kid of nobody trusted", lambda: forged({"kid": "someone-else"}), "invalid_proof"),
    ("self-asserted jwk", lambda: forged({"jwk": public_jwk(ATTESTER)}), "invalid_proof"),
    ("x5c chain", lambda: forged({"x5c": ["MIIB"]}), "invalid_proof"),
    ("federation trust_chain", lambda: forged({"trust_chain": ["eyJ"]}), "invalid_proof"),
    ("signed by another key", lambda: forged(key=OTHER), "invalid_proof"),
    ("signature cut", lambda: forged()[:-8], "invalid_proof"),
    ("iat missing", lambda: forged(iat=DROP), "invalid_proof"),
    ("iat a string", lambda: forged(iat=str(NOW)), "invalid_proof"),
    ("iat a float", lambda: forged(iat=NOW + 0.5), "invalid_proof"),
    ("iat true", lambda: forged(iat=True), "invalid_proof"),
    ("iat in the future", lambda: forged(iat=NOW + 3600), "invalid_proof"),
    ("iat too old", lambda: forged(iat=NOW - 86_400), "invalid_proof"),
    ("expired", lambda: forged(iat=NOW - 200, exp=NOW - 100), "invalid_proof"),
    ("exp not after iat", lambda: forged(exp=NOW), "invalid_proof"),
    ("exp a string", lambda: forged(exp=str(NOW + 300)), "invalid_proof"),
    ("nonce missing", lambda: forged(nonce=DROP), "invalid_proof"),
    ("nonce not a string", lambda: forged(nonce=12345), "invalid_proof"),
    ("nonce of another request", lambda: forged(nonce="c-nonce-9876543210"), "invalid_nonce"),
    ("nonce prefix", lambda: forged(nonce=NONCE[:-1]), "invalid_nonce"),
    ("attested_keys missing", lambda: forged(attested_keys=DROP), "invalid_proof"),
    ("attested_keys empty", lambda: forged(attested_keys=[]), "invalid_proof"),
    ("attested_keys an object", lambda: forged(attested_keys=HOLDER_JWKS[0]), "invalid_proof"),
    ("too many keys", lambda: forged(attested_keys=SIX), "invalid_proof"),
    ("a private key", lambda: forged(attested_keys=[HOLDER_JWKS[1], PRIVATE]), "invalid_proof"),
    ("a key twice", lambda: forged(attested_keys=[HOLDER_JWKS[0], dict(HOLDER_JWKS[0])]), "invalid_proof"),
    ("an RSA key", lambda: forged(attested_keys=[RSA_JWK]), "invalid_proof"),
    ("a key that is a string", lambda: forged(attested_keys=["EC"]), "invalid_proof"),
    ("a point off the curve", lambda: forged(attested_keys=[{**HOLDER_JWKS[0], "y": HOLDER_JWKS[1]["y"]}]),
     "invalid_proof"),
    ("key_storage weaker", lambda: forged(key_storage=[ISO_18045_MODERATE]), "invalid_proof"),
    ("key_storage missing", lambda: forged(key_storage=DROP), "invalid_proof"),
    ("key_storage empty", lambda: forged(key_storage=[]), "invalid_proof"),
    ("key_storage a string", lambda: forged(key_storage=ISO_18045_HIGH), "invalid_proof"),
    ("key_storage numbers", lambda: forged(key_storage=[1]), "invalid_proof"),
    ("user_authentication weaker", lambda: forged(user_authentication=[ISO_18045_BASIC]), "invalid_proof"),
    ("user_authentication missing", lambda: forged(user_authentication=DROP), "invalid_proof"),
    ("certification not a string", lambda: forged(certification=5), "invalid_proof"),
    ("status not an object", lambda: forged(status="revoked?"), "invalid_proof"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "make", "code"), NEGATIVE, ids=[n[0] for n in NEGATIVE])
def test_each_check_refuses(what: str, make: Callable[[], object], code: str) -> None:
    refused(make(), code)


def test_exp_is_required_in_a_jwt_proof() -> None:
    refused(forged(), require_exp=True)
    assert check(forged(exp=NOW + 60), require_exp=True)


def test_untrusted_attester_with_a_known_kid_is_caught_by_the_signature() -> None:
    """Someone makes their own attester key and names it as a trusted one: the kid finds the trusted
    key, and the signature does not verify under it."""
    error = refused(forged(key=generate_signing_key("ES256")))
    assert "signature" in str(error)


# --- the requirement, the attester set, the builder -----------------------------------------------------


def test_requirement_metadata_round_trip() -> None:
    assert REQUIRED.to_metadata() == {
        "key_storage": ["iso_18045_high"],
        "user_authentication": ["iso_18045_moderate"],
    }
    assert KeyAttestationRequirement.from_metadata(REQUIRED.to_metadata()) == REQUIRED
    assert KeyAttestationRequirement().to_metadata() == {}  # "a key attestation, no further constraint"
    assert KeyAttestationRequirement.from_metadata({}) == KeyAttestationRequirement()


@pytest.mark.parametrize(
    "value",
    [None, [], "x", {"key_storage": []}, {"key_storage": "iso_18045_high"}, {"user_authentication": [1]}],
)
def test_requirement_from_bad_metadata(value: object) -> None:
    with pytest.raises(ParseError) as caught:
        KeyAttestationRequirement.from_metadata(value)
    assert caught.value.what == "key_attestations_required" and caught.value.reason


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ([f"v{i}" for i in range(16)], True),
        ([f"v{i}" for i in range(17)], False),
        (["v"], True),
        ([""], False),
        (["v" * 256], True),
        (["v" * 257], False),
    ],
)
def test_assurance_value_boundaries(values: list[str], ok: bool) -> None:
    """At most 16 values, each 1 to 256 characters: in metadata, in the requirement and in a token."""
    metadata = {"key_storage": values, "user_authentication": values}
    token = forged(key_storage=values, user_authentication=values)
    if ok:
        requirement = KeyAttestationRequirement(tuple(values), tuple(values))
        assert KeyAttestationRequirement.from_metadata(metadata) == requirement
        assert check(token, requirement=requirement).key_storage == tuple(values)
    else:
        with pytest.raises(ParseError):
            KeyAttestationRequirement.from_metadata(metadata)
        with pytest.raises(UsageError):
            KeyAttestationRequirement(key_storage=tuple(values))
        refused(token, requirement=KeyAttestationRequirement())


def test_requirement_values_are_checked() -> None:
    with pytest.raises(UsageError):
        KeyAttestationRequirement(key_storage=("",))
    with pytest.raises(UsageError):
        KeyAttestationRequirement(user_authentication=tuple(f"v{i}" for i in range(17)))


def test_load_attester_keys() -> None:
    jwks = {"keys": [{**public_jwk(ATTESTER), "kid": KID, "alg": "ES256"}]}
    assert load_attester_keys(jwks) == {KID: verifying_key(ATTESTER)}


@pytest.mark.parametrize(
    ("jwks", "what"),
    [
        (None, "attester JWKS"),
        ({"keys": []}, "attester JWKS"),
        ({"keys": ["EC"]}, "attester JWKS"),  # a key that is not an object
        ({"keys": [public_jwk(ATTESTER)]}, "attester JWKS"),  # no kid
        ({"keys": [{**public_jwk(ATTESTER), "kid": ""}]}, "attester JWKS"),
        ({"keys": [{**public_jwk(ATTESTER), "kid": 1}]}, "attester JWKS"),
        ({"keys": [{**public_jwk(ATTESTER), "kid": KID}, {**public_jwk(OTHER), "kid": KID}]},  # kid twice
         "attester JWKS"),
        ({"keys": [{**public_jwk(ATTESTER), "kid": KID, "d": "AAAA"}]}, "JWK"),  # a private key
        ({"keys": [{**RSA_JWK, "kid": KID}]}, "JWK"),
        ({"keys": [{**public_jwk(ATTESTER), "kid": KID, "alg": "EdDSA"}]}, "JWK"),
    ],
)  # fmt: skip
def test_load_attester_keys_refuses(jwks: object, what: str) -> None:
    with pytest.raises(ParseError) as caught:
        load_attester_keys(jwks)
    assert caught.value.what == what and caught.value.reason


def test_policy_is_checked() -> None:
    with pytest.raises(UsageError):
        KeyAttestationPolicy({})
    with pytest.raises(UsageError):
        KeyAttestationPolicy({KID: public_jwk(ATTESTER)})  # type: ignore[dict-item]
    with pytest.raises(UsageError):
        KeyAttestationPolicy(ATTESTERS, max_age=0)
    assert KeyAttestationPolicy(ATTESTERS).algorithms == ("EdDSA", "ES256")
    assert KeyAttestationPolicy({KID: verifying_key(ATTESTER)}).algorithms == ("ES256",)


@pytest.mark.parametrize(
    "kw",
    [
        {"attested_keys": []},
        {"attested_keys": [PRIVATE]},
        {"attested_keys": [RSA_JWK]},
        {"exp": NOW},
        {"key_storage": [""]},
    ],
)
def test_builder_refuses_misuse(kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"attested_keys": HOLDER_JWKS, "kid": KID, "iat": NOW} | kw
    with pytest.raises(UsageError):
        build_key_attestation(ATTESTER, **args)


def test_max_keys_is_a_positive_integer() -> None:
    with pytest.raises(UsageError):
        check(forged(), max_keys=0)


# --- properties: untrusted input ----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
CLAIM_NAMES = ["iat", "exp", "nonce", "attested_keys", "key_storage", "user_authentication", "certification",
               "status", "iss"]  # fmt: skip
HEADER_NAMES = ["alg", "typ", "kid", "crit", "jwk", "x5c", "trust_chain"]
jwk_like = st.fixed_dictionaries(
    {}, optional={"kty": st.sampled_from(["EC", "OKP", "RSA"]) | json_values,
                  "crv": st.sampled_from(["P-256", "Ed25519"]) | json_values,
                  "x": st.sampled_from([HOLDER_JWKS[0]["x"], "AAAA", ""]) | json_values,
                  "y": st.sampled_from([HOLDER_JWKS[0]["y"], HOLDER_JWKS[1]["y"]]) | json_values,
                  "d": json_values, "alg": json_values},
)  # fmt: skip
VALID = forged(exp=NOW + 120)


def _judge(token: object) -> None:
    try:
        result = check(token)
    except IssuanceError as exc:
        assert_deliberate(exc)
        return
    # whatever passes is a trusted attester's statement that meets the requirement
    assert result.attester in ATTESTERS and 0 < len(result.attested_keys) <= MAX_KEYS
    assert ISO_18045_HIGH in result.key_storage and ISO_18045_MODERATE in result.user_authentication


@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    _judge(text)


@given(mutated(VALID))
def test_mutations_of_a_valid_attestation(text: str) -> None:
    _judge(text)


@given(st.dictionaries(st.sampled_from(CLAIM_NAMES), json_values, max_size=len(CLAIM_NAMES)))
def test_any_claims_under_a_trusted_signature(claims: dict[str, Any]) -> None:
    """Signed by the trusted attester, so the claims checks themselves meet whatever the JSON holds."""
    _judge(jws(HEADER, claims))


@given(st.dictionaries(st.sampled_from(CLAIM_NAMES), json_values, max_size=3))
def test_valid_claims_with_some_replaced(replaced: dict[str, Any]) -> None:
    _judge(jws(HEADER, CLAIMS | replaced))


@given(st.lists(jwk_like | json_values, max_size=MAX_KEYS + 2))
def test_any_attested_keys(keys: list[Any]) -> None:
    _judge(jws(HEADER, CLAIMS | {"attested_keys": keys}))


@given(st.dictionaries(st.sampled_from(HEADER_NAMES), json_values, max_size=len(HEADER_NAMES)))
def test_any_header_members(header: dict[str, Any]) -> None:
    _judge(jws(HEADER | header, CLAIMS))


@given(st.integers(-(2**70), 2**70), st.integers(-(2**70), 2**70) | st.none())
def test_any_times(iat: int, exp: int | None) -> None:
    claims = CLAIMS | {"iat": iat} | ({"exp": exp} if exp is not None else {})
    try:
        result = check(jws(HEADER, claims))
    except IssuanceError as exc:
        assert_deliberate(exc)
        return
    assert NOW - MAX_ATTESTATION_AGE - LEEWAY <= iat <= NOW + LEEWAY
    assert exp is None or exp + LEEWAY > NOW
    assert result.attester == KID
