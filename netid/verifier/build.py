"""The relying party builds signed requests: online (OpenID4VP request objects) and in person (counter QRs).

Both modes share one skeleton (:func:`_sign_request`): the query is checked against the RP's own access
certificate — purpose registered, every predicate allowed, the signing key the certificate's — exactly as
a wallet will check it, so a request the wallet would refuse is never built; then the common claims
(``client_id``, ``iat``/``exp``, ``dcql_query``, ``netid``) and the mode's own are signed, and the request
is read back through the same parser the wallet uses. Each mode states only what differs: a nonce, state
and response URI online; a counter id and a random ``jti`` in person.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from netid.credentials.jose import SigningKey, b64url_encode, jwk_thumbprint, public_jwk, sign_jws
from netid.errors import ParseError, UsageError
from netid.oid4vp.certificate import RpCertificate, rp_certificate_unverified
from netid.oid4vp.dcql import build_dcql
from netid.oid4vp.in_person import (
    COUNTER_QR_PREFIX,
    COUNTER_REQUEST_TYP,
    QR_MAX_BYTES,
    CounterRequest,
    counter_request_from_claims,
    valid_counter_id,
)
from netid.oid4vp.request import (
    ENCRYPTED_RESPONSE_MODE,
    MAX_RANDOM_TOKEN_CHARS,
    MIN_RANDOM_TOKEN_CHARS,
    REQUEST_AUD,
    REQUEST_TYP,
    RESPONSE_ENC_VALUES,
    RESPONSE_MODES,
    PresentationRequest,
    RequestTerms,
    client_metadata,
    is_random_token,
    request_from_claims,
    response_encryption_from_claims,
)
from netid.verifier.query import Query

__all__ = ["build_counter_request", "build_request"]

Rng = Callable[[int], bytes]
TermsT = TypeVar("TermsT", bound=RequestTerms)


def _check_time(now: object, ttl: object) -> None:
    # A float `now` (time.time()) would be signed as a float iat/exp, which every wallet refuses as
    # "expired or not yet valid" long after the mistake: refuse it here, where it is made.
    if type(now) is not int:
        raise UsageError("now must be an int of Unix seconds (int(time.time()), not time.time())")
    if type(ttl) is not int or ttl <= 0:
        raise UsageError("ttl must be a positive number of seconds")


def _sign_request(
    query: Query,
    *,
    rp_key: SigningKey,
    rp_certificate: str,
    now: int,
    ttl: int,
    typ: str,
    mode_claims: Callable[[RpCertificate], Mapping[str, Any]],
    parse: Callable[[str, Mapping[str, Any], RpCertificate], TermsT],
) -> TermsT:
    _check_time(now, ttl)
    cert = rp_certificate_unverified(rp_certificate)
    if query.purpose not in cert.purposes:
        raise UsageError("purpose is not registered in the RP certificate")
    predicates = query.predicates()
    for pred in predicates:
        if pred.scope == "age_over" and cert.age_thresholds is not None and not cert.allows(pred):
            supported = ", ".join(str(t) for t in cert.age_thresholds)
            raise UsageError(
                f"the issuer does not mint {pred.name!r} (it would answer False for everyone): the "
                f"thresholds it mints are {supported}"
            )
        if not cert.allows(pred):
            raise UsageError(f"the RP certificate does not allow {pred.name!r}")
    if jwk_thumbprint(public_jwk(rp_key)) != jwk_thumbprint(cert.request_jwk):
        raise UsageError("rp_key is not the request-signing key of the RP certificate")
    netid_params: dict[str, Any] = {"purpose": query.purpose}
    if query.min_mode is not None:
        netid_params["min_mode"] = query.min_mode
    claims: dict[str, Any] = {
        "iat": now,
        "exp": now + ttl,
        "client_id": cert.client_id,
        **mode_claims(cert),
        "dcql_query": build_dcql(predicates),
        "netid": netid_params,
    }
    token = sign_jws(claims, rp_key, typ=typ, extra_headers={"jwt": rp_certificate})
    return parse(token, claims, cert)


def build_request(
    query: Query,
    *,
    rp_key: SigningKey,
    rp_certificate: str,
    response_uri: str,
    now: int,
    client_id: str | None = None,
    nonce: str | None = None,
    state: str | None = None,
    rng: Rng = secrets.token_bytes,
    ttl: int = 300,
    response_mode: Literal["direct_post", "direct_post.jwt"] = "direct_post",
    encryption_jwk: Mapping[str, Any] | None = None,
    enc_values: Sequence[str] = RESPONSE_ENC_VALUES,
) -> PresentationRequest:
    """Build and sign the OpenID4VP request for ``query``.

    ``client_id`` defaults to (and, if given, must equal) ``verifier_attestation:<rp id>``. ``nonce`` and
    ``state`` default to 128 random bits from ``rng``. ``now`` is an ``int`` of Unix seconds. The request
    carries ``client_metadata`` naming ``dc+sd-jwt`` and the algorithms the verifier accepts.
    ``response_uri`` is an exact entry of the certificate's ``response_uris`` or one path segment of
    22-128 base64url characters (e.g. a transaction id) under an entry ending in ``/``.

    ``response_mode="direct_post.jwt"`` asks for a response encrypted to ``encryption_jwk`` (the RP's
    public P-256 key as :func:`netid.oid4vp.response.encryption_jwk` makes it: ``use`` ``enc``, ``alg``
    ``ECDH-ES``, a ``kid``), published in ``client_metadata.jwks`` with
    ``encrypted_response_enc_values_supported`` = ``enc_values`` (OpenID4VP 1.0 §8.3).

    Raises :class:`UsageError` if the query asks for a predicate or purpose outside the certificate (or
    an age threshold the issuer does not mint: the message names those it does), ``response_uri`` is not
    registered in it or not ``https`` (``http`` to loopback only if the issuer certified it so, in
    development), ``rp_key`` is not the certificate's request-signing key, or the encryption key or
    ``enc_values`` are not what a wallet encrypts with — a wallet would refuse all of these.
    """
    nonce = nonce if nonce is not None else b64url_encode(rng(16))
    state = state if state is not None else b64url_encode(rng(16))
    if not is_random_token(nonce) or not is_random_token(state):
        raise UsageError(
            f"nonce and state must be base64url of {MIN_RANDOM_TOKEN_CHARS}-{MAX_RANDOM_TOKEN_CHARS} "
            "characters (>= 128 random bits; specs/protocol.md §5)"
        )
    metadata = _client_metadata(response_mode, encryption_jwk, enc_values)

    def online(cert: RpCertificate) -> dict[str, Any]:
        if client_id is not None and client_id != cert.client_id:
            raise UsageError(f"client_id must be {cert.client_id!r} for this certificate")
        if not cert.response_uri_registered(response_uri):
            raise UsageError("response_uri is not registered in the RP certificate")
        if not cert.response_uri_allowed(response_uri, allow_loopback_http=True):
            raise UsageError("response_uri must be https (http only to a loopback host, in development)")
        return {
            "aud": REQUEST_AUD,
            "response_type": "vp_token",
            "response_mode": response_mode,
            "response_uri": response_uri,
            "nonce": nonce,
            "state": state,
            "client_metadata": metadata,
        }

    return _sign_request(
        query,
        rp_key=rp_key,
        rp_certificate=rp_certificate,
        now=now,
        ttl=ttl,
        typ=REQUEST_TYP,
        mode_claims=online,
        parse=request_from_claims,
    )


def _client_metadata(
    response_mode: str, encryption_jwk: Mapping[str, Any] | None, enc_values: Sequence[str]
) -> dict[str, Any]:
    """The request's ``client_metadata``, checked the way a wallet will check it."""
    if response_mode not in RESPONSE_MODES:
        raise UsageError(f"response_mode must be one of {RESPONSE_MODES}")
    if response_mode != ENCRYPTED_RESPONSE_MODE:
        if encryption_jwk is not None:
            raise UsageError("encryption_jwk is only for response_mode='direct_post.jwt'")
        return client_metadata()
    if encryption_jwk is None:
        raise UsageError("response_mode='direct_post.jwt' needs the RP's encryption_jwk")
    values = tuple(enc_values)
    if not values or any(v not in RESPONSE_ENC_VALUES for v in values):
        raise UsageError(f"enc_values must be a non-empty selection of {RESPONSE_ENC_VALUES}")
    metadata = client_metadata(encryption_jwk, values)
    try:
        encryption = response_encryption_from_claims(
            {"response_mode": response_mode, "client_metadata": metadata}
        )
    except ParseError as exc:
        raise UsageError(f"encryption_jwk is not a key a wallet encrypts to: {exc.reason}") from exc
    if encryption is None or encryption.kid != encryption_jwk.get("kid"):  # one key, so it is the one
        raise UsageError("encryption_jwk is not a key a wallet encrypts to")
    return metadata


def build_counter_request(
    query: Query,
    *,
    rp_key: SigningKey,
    rp_certificate: str,
    counter_id: str,
    now: int,
    ttl: int = 86_400,
    rng: Rng = secrets.token_bytes,
) -> CounterRequest:
    """Build and sign the counter request for ``query`` (what the counter shows as its QR).

    ``ttl`` is how long the QR may be shown (a desk screen may keep one all day; freshness comes from the
    window, not from this). ``rng`` supplies the 128-bit ``jti``. Raises :class:`UsageError` for a purpose
    or predicate outside the certificate (or an age threshold the issuer does not mint), a ``rp_key``
    that is not the certificate's, a bad ``counter_id`` (1-64 printable characters) or a request too
    large for a QR code.
    """
    if not valid_counter_id(counter_id):
        raise UsageError("counter_id must be 1-64 printable characters without surrounding spaces")

    def in_person(cert: RpCertificate) -> dict[str, Any]:
        return {"counter_id": counter_id, "jti": b64url_encode(rng(16))}

    built = _sign_request(
        query,
        rp_key=rp_key,
        rp_certificate=rp_certificate,
        now=now,
        ttl=ttl,
        typ=COUNTER_REQUEST_TYP,
        mode_claims=in_person,
        parse=counter_request_from_claims,
    )
    if len(COUNTER_QR_PREFIX) + len(built.request_object) > QR_MAX_BYTES:
        raise UsageError("the counter request does not fit a QR code")
    return built
