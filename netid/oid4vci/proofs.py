"""OpenID4VCI 1.0 key proofs (``proof_type: jwt``, Appendix F.1): one per device key of a batch.

A wallet asks for a batch of netcerts by sending one proof per fresh device key: a JWT with header
``typ: openid4vci-proof+jwt``, ``alg`` and ``jwk`` (the public device key the credential will be bound
to), and claims ``aud`` (the credential issuer identifier), ``iat`` and ``nonce`` (a ``c_nonce`` from the
issuer's nonce endpoint). The signature proves possession of the key.

:func:`build_key_proof` is the wallet's side; :func:`verify_key_proofs` the issuer's, which raises
:class:`~netid.errors.IssuanceError` with OpenID4VCI's codes (``invalid_proof``, ``invalid_nonce``) and
returns the public keys, distinct, in order.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any, Final

from netid.credentials.jose import (
    PRIVATE_JWK_MEMBERS,
    JwsSigner,
    SigningKey,
    check_algorithm,
    decode_jws_unverified,
    jwk_thumbprint,
    load_public_jwk,
    sign_jws,
    typ_matches,
)
from netid.errors import IssuanceError, ParseError, UsageError, VerificationError
from netid.policy import DEFAULT_POLICY, Policy

__all__ = ["MAX_PROOF_AGE", "PROOF_TYP", "build_key_proof", "claimed_nonce", "verify_key_proofs"]

PROOF_TYP: Final = "openid4vci-proof+jwt"
#: how old a proof's ``iat`` may be (the c_nonce bounds freshness too; this bounds a stolen proof's life)
MAX_PROOF_AGE: Final = 300


def build_key_proof(
    key: SigningKey | JwsSigner, public_jwk: dict[str, str], *, audience: str, nonce: str, iat: int
) -> str:
    """A key proof for ``public_jwk`` signed by its private ``key`` (the wallet's side)."""
    if not PRIVATE_JWK_MEMBERS.isdisjoint(public_jwk):
        raise UsageError("public_jwk must be a public key")
    claims: dict[str, Any] = {"aud": audience, "iat": iat, "nonce": nonce}
    return sign_jws(claims, key, typ=PROOF_TYP, extra_headers={"jwk": dict(public_jwk)})


def _invalid(message: str) -> IssuanceError:
    return IssuanceError("invalid_proof", message)


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
    if not isinstance(proof, str) or len(proof) > 4096:
        raise _invalid("a proof is not a compact JWT")
    try:
        header, claims, signing_input, signature = decode_jws_unverified(proof)
    except ParseError as exc:
        raise _invalid("a proof is not a compact JWT") from exc
    try:
        alg = check_algorithm(header.get("alg"))
    except VerificationError as exc:
        raise _invalid("proof algorithm is not allowed") from exc
    if not typ_matches(header.get("typ"), PROOF_TYP) or "crit" in header:
        raise _invalid(f"proof typ must be {PROOF_TYP}")
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
    if claims.get("aud") != audience:
        raise _invalid("proof is for another credential issuer")
    iat = claims.get("iat")
    if type(iat) is not int or iat > now + policy.leeway or iat < now - MAX_PROOF_AGE - policy.leeway:
        raise _invalid("proof iat is missing, in the future or too old")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise IssuanceError("invalid_nonce", "proof nonce is not the current c_nonce")
    return key.jwk()


def claimed_nonce(proofs: Sequence[object]) -> str | None:
    """The ``nonce`` the first proof claims, unverified: what the issuer looks up in its nonce store
    before :func:`verify_key_proofs` checks every proof against it. ``None`` if there is none to read."""
    if not isinstance(proofs, list) or not proofs or not isinstance(proofs[0], str):
        return None
    try:
        _, claims, _, _ = decode_jws_unverified(proofs[0])
    except ParseError:
        return None
    nonce = claims.get("nonce")
    return nonce if isinstance(nonce, str) and 0 < len(nonce) <= 256 else None
