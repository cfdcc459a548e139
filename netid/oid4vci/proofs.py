"""OpenID4VCI 1.0 key proofs (Appendix F): the device keys a batch of netcerts is bound to.

A wallet asks for a batch of netcerts by sending one proof per fresh device key (``proof_type`` ``jwt``,
Appendix F.1): a JWT with header ``typ: openid4vci-proof+jwt``, ``alg`` and ``jwk`` (the public device key
the credential will be bound to), and claims ``aud`` (the credential issuer identifier), ``iat`` and
``nonce`` (a ``c_nonce`` from the issuer's nonce endpoint). The signature proves possession of the key.

An issuer that requires **key attestations** (:mod:`netid.oid4vci.key_attestation`) takes the batch's keys
from an attestation instead, in one of the two forms the standard gives:

* ``proof_type`` ``attestation`` (Appendix F.3): exactly one key attestation, its ``nonce`` the
  ``c_nonce``; the batch is its ``attested_keys``, and no key signs anything.
* one ``jwt`` proof whose header carries the attestation in ``key_attestation`` (Appendix F.1): the proof
  is signed by one of the attested keys (named by ``jwk``, or found among them), both ``nonce`` s are the
  ``c_nonce``, the attestation has an ``exp``; the batch is again the attested keys.

Then a plain ``jwt`` proof is refused (``invalid_proof``): possession of a key says nothing about where it
is kept. Without such a requirement only plain ``jwt`` proofs are taken (a ``key_attestation`` header is
then not evaluated: the issuer trusts no attester).

:func:`build_key_proof` is the wallet's side; :func:`verify_proofs` (every proof type) and
:func:`verify_key_proofs` (plain ``jwt`` proofs) the issuer's, which raise
:class:`~netid.errors.IssuanceError` with OpenID4VCI's codes (``invalid_proof``, ``invalid_nonce``,
``invalid_credential_request``) and return the public keys, distinct, in order.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netid.credentials.jose import (
    PRIVATE_JWK_MEMBERS,
    JwsSigner,
    SigningKey,
    VerifyingKey,
    decode_jws_unverified,
    jwk_thumbprint,
    load_public_jwk,
    sign_jws,
)
from netid.errors import IssuanceError, ParseError, UsageError
from netid.oid4vci._jwt import invalid_proof as _invalid
from netid.oid4vci._jwt import open_jwt
from netid.oid4vci.key_attestation import (
    MAX_ATTESTATION_LENGTH,
    KeyAttestation,
    KeyAttestationPolicy,
    verify_key_attestation,
)
from netid.policy import DEFAULT_POLICY, Policy

__all__ = [
    "MAX_PROOF_AGE",
    "PROOF_TYP",
    "PROOF_TYPES",
    "ProvenKeys",
    "build_key_proof",
    "claimed_nonce",
    "verify_key_proofs",
    "verify_proofs",
]

PROOF_TYP: Final = "openid4vci-proof+jwt"
#: the proof types NetID knows: plain or attested ``jwt`` proofs, and ``attestation`` (Appendix F.3)
PROOF_TYPES: Final = ("jwt", "attestation")
#: how old a proof's ``iat`` may be (the c_nonce bounds freshness too; this bounds a stolen proof's life)
MAX_PROOF_AGE: Final = 300
_MAX_PROOF_LENGTH: Final = 4096
#: a proof that carries a key attestation in its header: the attestation, base64url-encoded once more
_MAX_ATTESTED_PROOF_LENGTH: Final = _MAX_PROOF_LENGTH + (MAX_ATTESTATION_LENGTH * 4 + 2) // 3


def build_key_proof(
    key: SigningKey | JwsSigner, public_jwk: dict[str, str], *, audience: str, nonce: str, iat: int
) -> str:
    """A key proof for ``public_jwk`` signed by its private ``key`` (the wallet's side)."""
    if not PRIVATE_JWK_MEMBERS.isdisjoint(public_jwk):
        raise UsageError("public_jwk must be a public key")
    claims: dict[str, Any] = {"aud": audience, "iat": iat, "nonce": nonce}
    return sign_jws(claims, key, typ=PROOF_TYP, extra_headers={"jwk": dict(public_jwk)})


def verify_key_proofs(
    proofs: Sequence[object],
    *,
    audience: str,
    nonce: str,
    now: int,
    max_count: int,
    policy: Policy = DEFAULT_POLICY,
) -> list[dict[str, str]]:
    """Check every proof of one credential request; return their public JWKs in order.

    Each proof: a compact JWS of ``typ`` ``openid4vci-proof+jwt`` with an allowed ``alg`` and a public
    ``jwk`` header (no ``kid``/``x5c``: the key itself is what gets certified), signed by that key,
    ``aud`` = ``audience``, ``iat`` within ``policy.leeway`` of ``now`` and at most
    :data:`MAX_PROOF_AGE` old, ``nonce`` = the request's ``c_nonce`` (``invalid_nonce`` otherwise). The
    keys must be pairwise distinct — a shared key would link the batch's presentations. At most
    ``max_count`` proofs (``invalid_credential_request`` otherwise).
    """
    if not isinstance(proofs, list) or not proofs:
        raise IssuanceError("invalid_credential_request", "proofs must be a non-empty array")
    if len(proofs) > max_count:
        raise IssuanceError("invalid_credential_request", f"at most {max_count} proofs per request")
    keys: list[dict[str, str]] = []
    seen: set[str] = set()
    for proof in proofs:
        jwk = _verify_one(proof, audience=audience, nonce=nonce, now=now, policy=policy)
        thumbprint = jwk_thumbprint(jwk)
        if thumbprint in seen:
            raise _invalid("two proofs are for the same key: every credential needs its own key")
        seen.add(thumbprint)
        keys.append(jwk)
    return keys


def _verify_one(proof: object, *, audience: str, nonce: str, now: int, policy: Policy) -> dict[str, str]:
    header, claims, signing_input, signature, alg = open_jwt(
        proof, typ=PROOF_TYP, max_length=_MAX_PROOF_LENGTH, what="proof"
    )
    if "kid" in header or "x5c" in header or "trust_chain" in header:
        raise _invalid("a proof names its key with 'jwk' only")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
        raise _invalid("proof header jwk must be a public key")
    try:
        key = load_public_jwk(jwk)
    except ParseError as exc:
        raise _invalid("proof header jwk is not a supported key") from exc
    if key.alg != alg or not key.verify(signing_input, signature):
        raise _invalid("proof signature does not verify under its jwk")
    _check_claims(claims, audience=audience, nonce=nonce, now=now, policy=policy)
    return key.jwk()


def _check_claims(claims: Mapping[str, Any], *, audience: str, nonce: str, now: int, policy: Policy) -> None:
    """``aud``, ``iat`` and ``nonce`` of a signature-checked proof."""
    if claims.get("aud") != audience:
        raise _invalid("proof is for another credential issuer")
    iat = claims.get("iat")
    if type(iat) is not int or iat > now + policy.leeway or iat < now - MAX_PROOF_AGE - policy.leeway:
        raise _invalid("proof iat is missing, in the future or too old")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise IssuanceError("invalid_nonce", "proof nonce is not the current c_nonce")


@dataclass(frozen=True, slots=True)
class ProvenKeys:
    """The keys one credential request proved, in order (one credential each), and the key attestation
    that vouched for them when the issuer requires one."""

    holder_jwks: tuple[dict[str, str], ...]
    attestation: KeyAttestation | None = None


def verify_proofs(
    proof_type: str,
    proofs: Sequence[object],
    *,
    audience: str,
    nonce: str,
    now: int,
    max_count: int,
    attestation: KeyAttestationPolicy | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> ProvenKeys:
    """Check the ``proofs`` object of one credential request (``{proof_type: proofs}``); return its keys.

    Without ``attestation`` only ``jwt`` proofs are taken (:func:`verify_key_proofs`). With it every
    request must carry a key attestation by one of its trusted attesters meeting its requirement: exactly
    one ``attestation`` proof, or exactly one ``jwt`` proof with a ``key_attestation`` header (the module
    docstring); a plain ``jwt`` proof is ``invalid_proof``. An unknown or unaccepted proof type, an empty
    array or more than ``max_count`` proofs is ``invalid_credential_request``; at most ``max_count`` keys
    may be attested (``invalid_proof``).
    """
    accepted = PROOF_TYPES if attestation is not None else ("jwt",)
    if proof_type not in accepted:
        raise IssuanceError("invalid_credential_request", f"proofs must be of type {' or '.join(accepted)}")
    if not isinstance(proofs, list) or not proofs:
        raise IssuanceError("invalid_credential_request", "proofs must be a non-empty array")
    if len(proofs) > max_count:
        raise IssuanceError("invalid_credential_request", f"at most {max_count} proofs per request")
    if attestation is None:
        keys = verify_key_proofs(
            proofs, audience=audience, nonce=nonce, now=now, max_count=max_count, policy=policy
        )
        return ProvenKeys(tuple(keys))
    if len(proofs) != 1:
        if proof_type == "attestation":  # Appendix F: "an array that contains exactly one JWT"
            raise _invalid("the attestation proof type takes exactly one key attestation")
        raise _invalid("this issuer requires a key attestation: one jwt proof carrying it, for the batch")
    if proof_type == "attestation":
        attested = verify_key_attestation(
            proofs[0], attesters=attestation.attesters, requirement=attestation.requirement, now=now,
            nonce=nonce, max_keys=max_count, max_age=attestation.max_age, policy=policy,
        )  # fmt: skip
    else:
        attested = _verify_attested_proof(
            proofs[0], attestation, audience=audience, nonce=nonce, now=now, max_keys=max_count, policy=policy
        )
    return ProvenKeys(tuple(attested.public_jwks()), attested)


def _verify_attested_proof(
    proof: object,
    attestation: KeyAttestationPolicy,
    *,
    audience: str,
    nonce: str,
    now: int,
    max_keys: int,
    policy: Policy,
) -> KeyAttestation:
    """A ``jwt`` proof with a ``key_attestation`` header, signed by one of the keys it attests."""
    header, claims, signing_input, signature, alg = open_jwt(
        proof, typ=PROOF_TYP, max_length=_MAX_ATTESTED_PROOF_LENGTH, what="proof"
    )
    if "key_attestation" not in header:
        raise _invalid("this issuer requires a key attestation with the proof")
    if "x5c" in header or "trust_chain" in header or ("jwk" in header and "kid" in header):
        raise _invalid("an attested proof names its key with 'jwk' or 'kid', not both, nor x5c")
    attested = verify_key_attestation(
        header["key_attestation"], attesters=attestation.attesters, requirement=attestation.requirement,
        now=now, nonce=nonce, max_keys=max_keys, require_exp=True, max_age=attestation.max_age, policy=policy,
    )  # fmt: skip
    candidates: tuple[VerifyingKey, ...] = attested.attested_keys
    if "jwk" in header:
        jwk = header["jwk"]
        if not isinstance(jwk, dict) or not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
            raise _invalid("proof header jwk must be a public key")
        try:
            named = load_public_jwk(jwk, cache=False)
        except ParseError as exc:
            raise _invalid("proof header jwk is not a supported key") from exc
        if named not in candidates:
            raise _invalid("the proof's key is not one of the attested keys")
        candidates = (named,)
    # the spec leaves what a 'kid' names here open: the signature itself must then pick an attested key
    if not any(key.alg == alg and key.verify(signing_input, signature) for key in candidates):
        raise _invalid("proof signature does not verify under an attested key")
    _check_claims(claims, audience=audience, nonce=nonce, now=now, policy=policy)
    return attested


def claimed_nonce(proofs: Sequence[object], proof_type: str = "jwt") -> str | None:
    """The ``nonce`` the first proof (for ``attestation``: the key attestation) claims, unverified: what
    the issuer looks up in its nonce store before :func:`verify_proofs` checks every proof against it.
    ``None`` if there is none to read."""
    if not isinstance(proofs, list) or not proofs or not isinstance(proofs[0], str):
        return None
    if proof_type not in PROOF_TYPES or len(proofs[0]) > _MAX_ATTESTED_PROOF_LENGTH:
        return None
    try:
        _, claims, _, _ = decode_jws_unverified(proofs[0])
    except ParseError:
        return None
    nonce = claims.get("nonce")
    return nonce if isinstance(nonce, str) and 0 < len(nonce) <= 256 else None
