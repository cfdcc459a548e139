"""The opening every JWT the issuer receives goes through (key proofs, key attestations): bounded size, a
compact JWS, ``alg`` on the allow-list, the expected ``typ``, no ``crit`` — refused as OpenID4VCI's
``invalid_proof`` before any key is looked at."""

from __future__ import annotations

from typing import Any

from netid.credentials.jose import check_algorithm, decode_jws_unverified, typ_matches
from netid.errors import IssuanceError, ParseError, VerificationError

__all__ = ["OpenedJwt", "invalid_proof", "open_jwt"]

#: header, claims, signing input, signature, and the allowed ``alg``
OpenedJwt = tuple[dict[str, Any], dict[str, Any], bytes, bytes, str]


def invalid_proof(message: str) -> IssuanceError:
    return IssuanceError("invalid_proof", message)


def open_jwt(token: object, *, typ: str, max_length: int, what: str) -> OpenedJwt:
    """Decode ``token`` (not yet verified) as a JWT of type ``typ``; ``what`` names it in the messages."""
    if not isinstance(token, str) or len(token) > max_length:
        raise invalid_proof(f"a {what} is not a compact JWT")
    try:
        header, claims, signing_input, signature = decode_jws_unverified(token)
    except ParseError as exc:
        raise invalid_proof(f"a {what} is not a compact JWT") from exc
    try:
        alg = check_algorithm(header.get("alg"))
    except VerificationError as exc:
        raise invalid_proof(f"{what} algorithm is not allowed") from exc
    if not typ_matches(header.get("typ"), typ) or "crit" in header:
        raise invalid_proof(f"{what} typ must be {typ}")
    return header, claims, signing_input, signature, alg
