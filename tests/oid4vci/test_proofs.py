"""The proofs of a credential request (netid/oid4vci/proofs.py ``verify_proofs``): plain ``jwt`` proofs
without a key attestation policy; with one, the ``attestation`` proof type and a ``jwt`` proof carrying a
``key_attestation`` header — and plain proofs refused. Properties: only ``IssuanceError`` with the
standard's codes, whatever the proof."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.credentials.jose import SigningKey, generate_signing_key, public_jwk, sign_jws
from netid.errors import IssuanceError
from netid.oid4vci.key_attestation import KeyAttestationPolicy, build_key_attestation
from netid.oid4vci.proofs import PROOF_TYP, build_key_proof, claimed_nonce, verify_proofs
from netid.testing.world import fixed_key
from tests.oid4vci.test_key_attestation import (
    ATTESTER,
    ATTESTERS,
    CLAIMS,
    HEADER,
    HOLDER_JWKS,
    HOLDERS,
    KID,
    NONCE,
    NOW,
    OTHER,
    REQUIRED,
    assert_deliberate,
    json_values,
    jws,
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


def verify(proof_type: str, proofs: Any, **kw: Any) -> Any:
    options: dict[str, Any] = {
        "audience": AUDIENCE, "nonce": NONCE, "now": NOW, "max_count": 5, "attestation": POLICY,
    }  # fmt: skip
    return verify_proofs(proof_type, proofs, **(options | kw))


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
        ("jwt", lambda: [attested_proof(header={"jwk": {**HOLDER_JWKS[1], "d": "AAAA"}})], "invalid_proof"),
        ("jwt", lambda: [attested_proof(header={"key_attestation": attestation(exp=None)})], "invalid_proof"),
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
