"""The proofs of a credential request (netid/oid4vci/proofs.py ``verify_proofs``): plain ``jwt`` proofs
without a key attestation policy; with one, the ``attestation`` proof type and a ``jwt`` proof carrying a
``key_attestation`` header — and plain proofs refused. Each check of a plain proof flipped alone and at
its boundaries, here rather than only through the issuer app (the mutation run, docs/mutation.md, found
them untested). Properties: only ``IssuanceError`` with the standard's codes, whatever the proof."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.credentials.jose import SigningKey, generate_signing_key, public_jwk, sign_jws
from netid.errors import IssuanceError
from netid.oid4vci.key_attestation import KeyAttestationPolicy, build_key_attestation
from netid.oid4vci.proofs import (
    _MAX_ATTESTED_PROOF_LENGTH,
    _MAX_PROOF_LENGTH,
    MAX_PROOF_AGE,
    PROOF_TYP,
    build_key_proof,
    claimed_nonce,
    verify_key_proofs,
    verify_proofs,
)
from netid.policy import Policy
from netid.testing.world import fixed_key
from tests.oid4vci.test_key_attestation import (
    ATTESTER,
    ATTESTERS,
    CLAIMS,
    DROP,
    HEADER,
    HOLDER_JWKS,
    HOLDERS,
    KID,
    LEEWAY,
    NONCE,
    NOW,
    OTHER,
    REQUIRED,
    assert_deliberate,
    json_values,
    jws,
    jws_of_length,
)
from tests.strategies import mutated

AUDIENCE = "https://issuer.example"
POLICY = KeyAttestationPolicy(ATTESTERS, REQUIRED)
CODES = {"invalid_proof", "invalid_nonce", "invalid_credential_request"}


def attestation(keys: list[dict[str, str]] = HOLDER_JWKS, **kw: Any) -> str:
    options: dict[str, Any] = {
        "kid": KID, "iat": NOW, "exp": NOW + 300, "nonce": NONCE, "key_storage": ["iso_18045_high"],
        "user_authentication": ["iso_18045_moderate"],
    }  # fmt: skip
    return build_key_attestation(ATTESTER, keys, **(options | kw))


def attested_proof(
    key: SigningKey = HOLDERS[1], *, header: dict[str, Any] | None = None, **claims: Any
) -> str:
    """A jwt proof signed by ``key`` (an attested one by default), the attestation in its header."""
    extra = {"jwk": public_jwk(key), "key_attestation": attestation()} | (header or {})
    kid = extra.pop("kid", None)
    payload = {"aud": AUDIENCE, "iat": NOW, "nonce": NONCE} | claims
    headers = {k: v for k, v in extra.items() if v is not None}
    return sign_jws(payload, key, typ=PROOF_TYP, kid=kid, extra_headers=headers)


def plain(key: SigningKey) -> str:
    return build_key_proof(key, public_jwk(key), audience=AUDIENCE, nonce=NONCE, iat=NOW)


PROOF_HEADER: dict[str, Any] = {"alg": "ES256", "typ": PROOF_TYP, "jwk": HOLDER_JWKS[0]}
PROOF_CLAIMS: dict[str, Any] = {"aud": AUDIENCE, "iat": NOW, "nonce": NONCE}


def forged_proof(header: dict[str, Any] | None = None, key: SigningKey = HOLDERS[0], **claims: Any) -> str:
    """The valid plain proof with header members and claims replaced (``DROP`` deletes one), signed by
    ``key`` whatever the header's ``alg`` says."""
    h = {k: v for k, v in {**PROOF_HEADER, **(header or {})}.items() if v is not DROP}
    c = {k: v for k, v in {**PROOF_CLAIMS, **claims}.items() if v is not DROP}
    return jws(h, c, key)


def verify(proof_type: str, proofs: Any, **kw: Any) -> Any:
    options: dict[str, Any] = {
        "audience": AUDIENCE, "nonce": NONCE, "now": NOW, "max_count": 5, "attestation": POLICY,
    }  # fmt: skip
    return verify_proofs(proof_type, proofs, **(options | kw))


def key_proofs(proofs: Any, **kw: Any) -> list[dict[str, str]]:
    """verify_key_proofs, the plain proofs alone."""
    options: dict[str, Any] = {"audience": AUDIENCE, "nonce": NONCE, "now": NOW, "max_count": 5}
    return verify_key_proofs(proofs, **(options | kw))


def refused(proof_type: str, proofs: Any, code: str = "invalid_proof", **kw: Any) -> IssuanceError:
    with pytest.raises(IssuanceError) as caught:
        verify(proof_type, proofs, **kw)
    assert caught.value.code == code, caught.value
    return caught.value


# --- without a key attestation policy ---------------------------------------------------------------------


def test_plain_proofs_without_a_policy() -> None:
    proven = verify("jwt", [plain(k) for k in HOLDERS], attestation=None)
    assert list(proven.holder_jwks) == HOLDER_JWKS and proven.attestation is None


def test_without_a_policy_no_attestation_is_taken() -> None:
    refused("attestation", [attestation()], "invalid_credential_request", attestation=None)
    refused("di_vp", [{}], "invalid_credential_request", attestation=None)


def test_the_forged_plain_baseline_is_valid() -> None:
    """Every plain refusal below changes one thing of this proof."""
    assert verify("jwt", [forged_proof()], attestation=None).holder_jwks == (HOLDER_JWKS[0],)


def test_exactly_max_count_proofs() -> None:
    proofs = [plain(k) for k in HOLDERS]
    assert list(verify("jwt", proofs, attestation=None, max_count=3).holder_jwks) == HOLDER_JWKS
    refused("jwt", proofs, "invalid_credential_request", attestation=None, max_count=2)
    assert key_proofs(proofs, max_count=3) == HOLDER_JWKS
    with pytest.raises(IssuanceError) as caught:
        key_proofs(proofs, max_count=2)
    assert caught.value.code == "invalid_credential_request"


@pytest.mark.parametrize("proofs", [[], (plain(HOLDERS[0]),), None], ids=["empty", "a tuple", "None"])
def test_verify_key_proofs_takes_a_non_empty_list(proofs: Any) -> None:
    """verify_proofs checks the shape first; verify_key_proofs, public too, checks it again."""
    with pytest.raises(IssuanceError) as caught:
        key_proofs(proofs)
    assert caught.value.code == "invalid_credential_request"


PLAIN_REFUSALS: list[tuple[str, Any, str]] = [
    ("a kid beside the jwk", lambda: [forged_proof({"kid": "0"})], "invalid_proof"),
    ("an x5c beside the jwk", lambda: [forged_proof({"x5c": ["MIIB"]})], "invalid_proof"),
    ("a trust_chain beside the jwk", lambda: [forged_proof({"trust_chain": ["eyJ"]})], "invalid_proof"),
    ("no jwk", lambda: [forged_proof({"jwk": DROP})], "invalid_proof"),
    ("a jwk that is a number", lambda: [forged_proof({"jwk": 5})], "invalid_proof"),
    ("a private jwk", lambda: [forged_proof({"jwk": {**HOLDER_JWKS[0], "d": "AAAA"}})], "invalid_proof"),
    # the signature verifies under the key, but the key is not one for the header's alg
    ("alg other than the key's", lambda: [forged_proof({"alg": "EdDSA"})], "invalid_proof"),
    ("signed by another key", lambda: [forged_proof(key=OTHER)], "invalid_proof"),
    ("the same key twice", lambda: [plain(HOLDERS[0]), plain(HOLDERS[1]), forged_proof()], "invalid_proof"),
    ("iat missing", lambda: [forged_proof(iat=DROP)], "invalid_proof"),
    ("iat a float", lambda: [forged_proof(iat=NOW + 0.5)], "invalid_proof"),
    ("iat a string", lambda: [forged_proof(iat=str(NOW))], "invalid_proof"),
    ("another audience", lambda: [forged_proof(aud="https://other.example")], "invalid_proof"),
    ("another nonce", lambda: [forged_proof(nonce="another")], "invalid_nonce"),
    ("no nonce", lambda: [forged_proof(nonce=DROP)], "invalid_nonce"),
    ("too long", lambda: [jws_of_length(_MAX_PROOF_LENGTH + 1, PROOF_HEADER, PROOF_CLAIMS, HOLDERS[0])],
     "invalid_proof"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "make", "code"), PLAIN_REFUSALS, ids=[r[0] for r in PLAIN_REFUSALS])
def test_plain_refusals(what: str, make: Any, code: str) -> None:
    assert_deliberate(refused("jwt", make(), code, attestation=None))


@pytest.mark.parametrize(
    ("claims", "ok"),
    [
        ({"iat": NOW + LEEWAY}, True),
        ({"iat": NOW + LEEWAY + 1}, False),
        ({"iat": NOW - MAX_PROOF_AGE - LEEWAY}, True),
        ({"iat": NOW - MAX_PROOF_AGE - LEEWAY - 1}, False),
    ],
)
def test_plain_boundaries(claims: dict[str, Any], ok: bool) -> None:
    proof = forged_proof(**claims)
    if ok:
        assert verify("jwt", [proof], attestation=None).holder_jwks == (HOLDER_JWKS[0],)
    else:
        refused("jwt", [proof], attestation=None)


def test_a_proof_of_the_largest_size() -> None:
    proof = jws_of_length(_MAX_PROOF_LENGTH, PROOF_HEADER, PROOF_CLAIMS, HOLDERS[0])
    assert verify("jwt", [proof], attestation=None).holder_jwks == (HOLDER_JWKS[0],)
    # one character more: "too long" in PLAIN_REFUSALS


def test_the_policy_reaches_plain_proofs() -> None:
    early = [forged_proof(iat=NOW + 100)]
    refused("jwt", early, attestation=None)
    assert verify("jwt", early, attestation=None, policy=Policy(leeway=100)).holder_jwks


# --- with one ---------------------------------------------------------------------------------------------


def test_the_attestation_proof_type_binds_the_attested_keys() -> None:
    proven = verify("attestation", [attestation()])
    assert list(proven.holder_jwks) == HOLDER_JWKS
    assert proven.attestation is not None and proven.attestation.attester == KID


def test_a_jwt_proof_carrying_the_attestation_binds_all_attested_keys() -> None:
    proven = verify("jwt", [attested_proof()])
    assert list(proven.holder_jwks) == HOLDER_JWKS  # the whole batch, not just the signing key


def test_a_jwt_proof_may_name_its_key_by_kid_or_not_at_all() -> None:
    """Appendix F.1's own example names the key with ``kid: "0"``; the signature then picks it."""
    assert verify("jwt", [attested_proof(header={"jwk": None, "kid": "0"})]).holder_jwks
    assert verify("jwt", [attested_proof(HOLDERS[2], header={"jwk": None})]).holder_jwks


def test_plain_proofs_are_refused_when_attestation_is_required() -> None:
    error = refused("jwt", [plain(HOLDERS[0])])
    assert "requires a key attestation" in str(error)
    refused("jwt", [plain(k) for k in HOLDERS])


@pytest.mark.parametrize(
    ("proof_type", "make", "code"),
    [
        ("attestation", lambda: [attestation(), attestation()], "invalid_proof"),
        ("attestation", lambda: [], "invalid_credential_request"),
        ("attestation", lambda: [attestation(nonce="another")], "invalid_nonce"),
        ("attestation", lambda: [attestation(key_storage=["iso_18045_basic"])], "invalid_proof"),
        ("jwt", lambda: [attested_proof(), attested_proof()], "invalid_proof"),
        # signed by a key the attestation does not cover, named honestly or pretending to be an attested one
        ("jwt", lambda: [attested_proof(OTHER)], "invalid_proof"),
        ("jwt", lambda: [attested_proof(OTHER, header={"jwk": HOLDER_JWKS[0]})], "invalid_proof"),
        ("jwt", lambda: [attested_proof(OTHER, header={"jwk": None})], "invalid_proof"),
        ("jwt", lambda: [attested_proof(header={"kid": "0"})], "invalid_proof"),  # jwk and kid
        ("jwt", lambda: [attested_proof(header={"x5c": ["MIIB"]})], "invalid_proof"),
        ("jwt", lambda: [attested_proof(header={"trust_chain": ["eyJ"]})], "invalid_proof"),
        ("jwt", lambda: [attested_proof(header={"jwk": None, "trust_chain": ["eyJ"]})], "invalid_proof"),
        ("jwt", lambda: [attested_proof(header={"jwk": {**HOLDER_JWKS[1], "d": "AAAA"}})], "invalid_proof"),
        ("jwt", lambda: [attested_proof(header={"key_attestation": attestation(exp=None)})], "invalid_proof"),
        # the issuer's requirement applies to an attestation in a proof's header too
        ("jwt", lambda: [attested_proof(header={"key_attestation": attestation(key_storage=["vendor-x"])})],
         "invalid_proof"),
        ("jwt", lambda: [attested_proof(header={"key_attestation": attestation(nonce="x")})],
         "invalid_nonce"),
        ("jwt", lambda: [attested_proof(header={"key_attestation": 7})], "invalid_proof"),
        ("jwt", lambda: [attested_proof(nonce="another")], "invalid_nonce"),
        ("jwt", lambda: [attested_proof(aud="https://other.example")], "invalid_proof"),
        ("jwt", lambda: [attested_proof(iat=NOW - 3600)], "invalid_proof"),
        ("di_vp", lambda: [{}], "invalid_credential_request"),
    ],
)  # fmt: skip
def test_refusals(proof_type: str, make: Any, code: str) -> None:
    refused(proof_type, make(), code)


def test_one_attestation_per_request_in_either_form() -> None:
    """Two of them are refused with what the wallet did wrong: Appendix F.3 takes exactly one attestation;
    a jwt proof carries the attestation for the whole batch."""
    assert "exactly one" in str(refused("attestation", [attestation(), attestation()]))
    error = refused("jwt", [attested_proof(), attested_proof(HOLDERS[2])])
    assert "exactly one" not in str(error) and "requires a key attestation" in str(error)


@pytest.mark.parametrize("form", ["attestation", "jwt"])
def test_the_policy_max_age_and_leeway_reach_the_attestation(form: str) -> None:
    def proofs(**kw: Any) -> list[str]:
        return (
            [attestation(**kw)]
            if form == "attestation"
            else [attested_proof(header={"key_attestation": attestation(**kw)})]
        )

    old = proofs(iat=NOW - 3000)
    refused(form, old)
    assert verify(form, old, attestation=KeyAttestationPolicy(ATTESTERS, REQUIRED, max_age=3600)).holder_jwks
    early = proofs(iat=NOW + 100)
    refused(form, early)
    assert verify(form, early, policy=Policy(leeway=100)).holder_jwks
    just = proofs(iat=NOW - 1 - LEEWAY)
    assert verify(form, just, attestation=KeyAttestationPolicy(ATTESTERS, REQUIRED, max_age=1)).holder_jwks


def test_an_attestation_signed_by_an_untrusted_provider() -> None:
    rogue = build_key_attestation(
        generate_signing_key("ES256"), HOLDER_JWKS, kid=KID, iat=NOW, nonce=NONCE,
        key_storage=["iso_18045_high"], user_authentication=["iso_18045_moderate"],
    )  # fmt: skip
    refused("attestation", [rogue])


def test_more_keys_than_a_batch() -> None:
    many = [public_jwk(fixed_key("ES256", f"proofs|many {i}")) for i in range(4)]
    refused("attestation", [attestation(many)], max_count=3)
    assert len(verify("attestation", [attestation(many)], max_count=4).holder_jwks) == 4


def test_claimed_nonce_reads_each_proof_type() -> None:
    assert claimed_nonce([attestation()], "attestation") == NONCE
    assert claimed_nonce([attested_proof(nonce="proof-nonce")], "jwt") == "proof-nonce"
    assert claimed_nonce([attestation(nonce=None)], "attestation") is None
    assert claimed_nonce([attestation()], "di_vp") is None
    assert claimed_nonce(["x" * 200_000], "attestation") is None


def test_claimed_nonce_of_a_plain_proof_by_default() -> None:
    assert claimed_nonce([plain(HOLDERS[0])]) == NONCE


@pytest.mark.parametrize("proofs", [[], [5], (plain(HOLDERS[0]),), "proof", None])
def test_claimed_nonce_needs_a_list_of_strings(proofs: Any) -> None:
    assert claimed_nonce(proofs) is None


@pytest.mark.parametrize(
    ("nonce", "claimed"),
    [("n", True), ("n" * 256, True), ("", False), ("n" * 257, False), (12345, False), (["n"], False)],
)
def test_claimed_nonce_lengths(nonce: Any, claimed: bool) -> None:
    assert claimed_nonce([forged_proof(nonce=nonce)]) == (nonce if claimed else None)


def test_claimed_nonce_size_limit() -> None:
    """The longest proof read is one carrying the longest attestation in its header."""
    longest = jws_of_length(_MAX_ATTESTED_PROOF_LENGTH, PROOF_HEADER, PROOF_CLAIMS, HOLDERS[0])
    assert claimed_nonce([longest]) == NONCE
    longer = jws_of_length(_MAX_ATTESTED_PROOF_LENGTH + 1, PROOF_HEADER, PROOF_CLAIMS, HOLDERS[0])
    assert claimed_nonce([longer]) is None


# --- properties ------------------------------------------------------------------------------------------

VALID_PROOF = attested_proof()


def _judge(proof_type: str, proofs: Any) -> None:
    try:
        proven = verify(proof_type, proofs)
    except IssuanceError as exc:
        assert exc.code in CODES, exc.code
        if exc.code != "invalid_credential_request":
            assert_deliberate(exc)
        return
    assert proven.attestation is not None and list(proven.holder_jwks) == proven.attestation.public_jwks()


@given(mutated(VALID_PROOF))
def test_mutated_attested_proofs(text: str) -> None:
    _judge("jwt", [text])


@given(st.sampled_from(["jwt", "attestation"]), st.lists(st.text(max_size=60) | json_values, max_size=3))
def test_random_proof_arrays(proof_type: str, proofs: list[Any]) -> None:
    _judge(proof_type, proofs)


@given(
    st.dictionaries(
        st.sampled_from(["jwk", "kid", "x5c", "trust_chain", "key_attestation", "crit"]),
        json_values,
        max_size=4,
    )
)
def test_any_header_of_a_proof_signed_by_an_attested_key(header: dict[str, Any]) -> None:
    fields = {"alg": "ES256", "typ": PROOF_TYP, "jwk": HOLDER_JWKS[0], "key_attestation": attestation()}
    _judge("jwt", [jws(fields | header, {"aud": AUDIENCE, "iat": NOW, "nonce": NONCE}, HOLDERS[0])])


@given(st.dictionaries(st.sampled_from(list(CLAIMS)), json_values, max_size=3))
def test_any_attestation_inside_a_jwt_proof(replaced: dict[str, Any]) -> None:
    inner = jws(HEADER, CLAIMS | {"exp": NOW + 60} | replaced)
    _judge("jwt", [attested_proof(header={"key_attestation": inner})])
