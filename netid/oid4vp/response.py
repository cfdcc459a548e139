"""The ``vp_token`` of an online response: what the wallet sends and how the verifier reads it.

OpenID4VP 1.0 §8.1: ``vp_token`` is a JSON object whose keys are the ids of the credential queries the
wallet answers, each mapping to an array of presentations (one, since no NetID query sets ``multiple``).
A NetID request (:mod:`netid.oid4vp.dcql`) has a required base query ``netcert`` and one optional query
per value predicate, named after it; there is no entry for a comparison that did not match.

The NetID profile answers with **one presentation of one credential**: the wallet lists that same
presentation under ``netcert`` and under the id of every comparison it satisfies
(``{"netcert": [P], "age_over_18": [P]}``), so the RP gets each answer from one holder, one key binding
and one status entry. The verifier takes the answers from that presentation's disclosures, never from
the ids it is listed under (:func:`presentation_from_vp_token` only checks the shape).

**Encrypted responses** (``response_mode=direct_post.jwt``, OpenID4VP 1.0 §8.3): the wallet posts one
form field, ``response``, a compact JWE (``ECDH-ES`` over P-256, ``A128GCM``/``A256GCM``) encrypted to the
key in the request's ``client_metadata.jwks`` whose payload holds the response parameters as top-level
members (``{"vp_token": {...}, "state": "..."}``) — so proxies and logs between wallet and RP see no
disclosed value. :func:`encrypt_response` is the wallet's side, :func:`decrypt_response` the RP's, and
:func:`encryption_jwk` the public key an RP publishes. jwcrypto (:mod:`netid.credentials.jwe`) is loaded
only by the first call of one of them, so importing this module stays cheap.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec

from netid.credentials.jose import b64url_encode, json_dumps, json_loads, jwk_thumbprint
from netid.errors import ParseError, UsageError, VerificationError
from netid.oid4vp.dcql import CREDENTIAL_QUERY_ID
from netid.oid4vp.request import RESPONSE_JWE_ALG, RequestTerms, ResponseEncryption

__all__ = [
    "decrypt_response",
    "encrypt_response",
    "encryption_jwk",
    "presentation_from_vp_token",
    "vp_token_for",
]

#: JSON overhead allowed per entry of a ``vp_token`` text: the key, quotes, brackets and separators
_ENTRY_OVERHEAD: Final = 64


def vp_token_for(presentation: str, terms: RequestTerms, disclosed: Collection[str]) -> dict[str, list[str]]:
    """The wallet's ``vp_token``: ``presentation`` under ``netcert`` and under the id of every value
    predicate of ``terms`` whose claim is among the ``disclosed`` claim names."""
    token = {CREDENTIAL_QUERY_ID: [presentation]}
    for pred in terms.value_predicates:
        if pred.claim in disclosed:
            token[pred.name] = [presentation]
    return token


def _malformed(message: str) -> VerificationError:
    return VerificationError("malformed", message)


def presentation_from_vp_token(
    vp_token: Mapping[str, Any] | str, request: RequestTerms, *, max_bytes: int
) -> str:
    """The one presentation in a ``vp_token`` (a JSON object, or its text as posted) for ``request``.

    :class:`VerificationError` ``malformed`` unless: the text, if text, is at most one ``max_bytes``
    presentation per credential query of the request (plus JSON overhead) and parses; it is an object
    whose keys are ``netcert`` and, optionally, ids of the request's value queries; every entry is an
    array of exactly one string; all these strings are the same presentation (one credential); and it is
    at most ``max_bytes`` long.
    """
    if type(vp_token) is dict and len(vp_token) == 1:  # the common case, without ABC isinstance checks
        items = vp_token.get(CREDENTIAL_QUERY_ID)
        if type(items) is list and len(items) == 1 and type(items[0]) is str:
            if len(items[0]) > max_bytes:
                raise _malformed("the presentation is larger than the policy allows")
            return items[0]
    allowed = {CREDENTIAL_QUERY_ID, *(p.name for p in request.value_predicates)}
    if isinstance(vp_token, str):
        if len(vp_token) > len(allowed) * (max_bytes + _ENTRY_OVERHEAD):
            raise _malformed("vp_token is larger than the policy allows")
        try:
            vp_token = json_loads(vp_token)
        except (ValueError, RecursionError) as exc:
            raise _malformed("vp_token is not JSON") from exc
    if not isinstance(vp_token, Mapping) or CREDENTIAL_QUERY_ID not in vp_token:
        raise _malformed("vp_token must map the netcert query id to a presentation")
    if not set(vp_token) <= allowed:
        raise _malformed("vp_token answers a credential query the request did not make")
    for items in vp_token.values():
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], str):
            raise _malformed("exactly one presentation string is expected per credential query")
    presentation: str = vp_token[CREDENTIAL_QUERY_ID][0]
    if any(items[0] != presentation for items in vp_token.values()):
        raise _malformed("every answered credential query must carry the one presentation")
    if len(presentation) > max_bytes:
        raise _malformed("the presentation is larger than the policy allows")
    return presentation


# --- encrypted responses (direct_post.jwt) -----------------------------------------------------------


def encryption_jwk(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK an RP publishes for encrypted responses (``client_metadata.jwks``): ``EC``/``P-256``,
    ``use`` ``enc``, ``alg`` ``ECDH-ES`` and ``kid`` = its RFC 7638 thumbprint. :class:`UsageError` for a
    key that is not P-256."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise UsageError("the response encryption key must be a P-256 key")
    numbers = public.public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }
    return {**jwk, "use": "enc", "alg": RESPONSE_JWE_ALG, "kid": jwk_thumbprint(jwk)}


def encrypt_response(params: Mapping[str, Any], encryption: ResponseEncryption) -> dict[str, str]:
    """The wallet's ``direct_post.jwt`` form: ``{"response": <compact JWE>}`` whose payload is ``params``
    (the response parameters, e.g. ``{"vp_token": {...}, "state": ...}``) encrypted to the request's key
    with its ``enc``; the key's ``kid`` goes in the JWE header (§8.3)."""
    from netid.credentials.jwe import encrypt_jwe  # noqa: PLC0415 - loads jwcrypto, only when encrypting

    return {"response": encrypt_jwe(json_dumps(dict(params)), encryption.jwk, enc=encryption.enc)}


def decrypt_response(
    token: str, private_key: ec.EllipticCurvePrivateKey, *, kid: str, max_bytes: int
) -> dict[str, Any]:
    """The RP's reading of a ``direct_post.jwt`` ``response``: decrypt it with ``private_key`` (whose
    published ``kid`` it must name) and return its payload, the response parameters.

    :class:`VerificationError` ``malformed`` for anything an untrusted sender can get wrong: larger than
    ``max_bytes``, not a compact JWE of ``ECDH-ES`` with ``A128GCM``/``A256GCM`` (no ``zip``, no
    ``crit``), another ``kid``, not decryptable with this key, or a payload that is not a JSON object.
    """
    from netid.credentials.jwe import decrypt_jwe, jwe_header  # noqa: PLC0415 - loads jwcrypto on use

    try:
        header_kid = jwe_header(token, max_bytes=max_bytes).get("kid")
        if type(header_kid) is not str or not hmac.compare_digest(header_kid.encode(), kid.encode()):
            raise _malformed("the encrypted response names another key")
        _header, plaintext = decrypt_jwe(token, private_key, max_bytes=max_bytes)
    except ParseError as exc:
        raise _malformed(f"the encrypted response is not usable: {exc.reason}") from exc
    try:
        payload = json_loads(plaintext)
    except (ValueError, RecursionError) as exc:
        raise _malformed("the encrypted response's payload is not JSON") from exc
    if type(payload) is not dict:
        raise _malformed("the encrypted response's payload is not a JSON object")
    return payload
