"""Signed presentation requests, as both the relying party and the wallet see them (OpenID4VP 1.0).

A relying party asks in one of two modes, and both are a JWS signed with the key of the RP's access
certificate (:mod:`netid.oid4vp.certificate`), which travels in the ``jwt`` JOSE header:

* **online** — a request object (JAR, ``typ: oauth-authz-req+jwt``) with ``response_type=vp_token``,
  ``response_mode`` ``direct_post`` (or ``direct_post.jwt``: the response encrypted to the RP's key in
  ``client_metadata.jwks``, :class:`ResponseEncryption`), ``client_id``, ``response_uri``, ``nonce``,
  ``state``, ``dcql_query`` (:mod:`netid.oid4vp.dcql`), ``client_metadata`` (the formats and algorithms
  the RP accepts),
  ``aud=https://self-issued.me/v2``, ``iat``/``exp`` and a ``netid`` object carrying the purpose and the
  minimum holder-authentication mode. Delivered by value
  (``openid4vp://?client_id=…&request=…``) or by reference (``…&request_uri=…``).
* **in person** — a counter request (:mod:`netid.oid4vp.in_person`, ``typ: netid-counter+jwt``).

What both modes share lives here once: :class:`RequestTerms` (the checked terms every later step reads),
the parse of those terms from claims, and the wallet's opening of a signed request
(:func:`open_signed_request`): signature chain, lifetime, ``client_id``, purpose, scope. Each mode adds only
what differs. The relying party builds requests with :mod:`netid.verifier.build`; a wallet opens what it
scanned with :func:`open_request` (raising :class:`VerificationError` with a stable code, which the wallet
turns into a refusal).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from netid.credentials.jose import (
    ALLOWED_ALGORITHMS,
    PRIVATE_JWK_MEMBERS,
    b64url_decode,
    check_algorithm,
    decode_jws_unverified,
    load_public_jwk,
    typ_matches,
)
from netid.credentials.netcert import NETCERT_TYP
from netid.credentials.trust import IssuerTrust
from netid.errors import ParseError, UsageError, VerificationError
from netid.oid4vp.certificate import (
    RpCertificate,
    parse_rp_certificate,
    rp_certificate_unverified,
)
from netid.oid4vp.dcql import Predicate, parse_dcql, requested_scopes
from netid.oid4vp.modes import MODES, AuthMode
from netid.policy import DEFAULT_POLICY, Policy

__all__ = [
    "ENCRYPTED_RESPONSE_MODE",
    "REQUEST_AUD",
    "REQUEST_TYP",
    "RESPONSE_ENC_VALUES",
    "RESPONSE_MODES",
    "URI_SCHEME",
    "PresentationRequest",
    "RequestTerms",
    "ResponseEncryption",
    "VpFormats",
    "check_scope",
    "client_metadata",
    "is_random_token",
    "open_request",
    "open_signed_request",
    "request_object_from_uri",
]

REQUEST_TYP: Final = "oauth-authz-req+jwt"
#: OpenID4VP 1.0 §5.8: the audience of a request object for a wallet without published metadata.
REQUEST_AUD: Final = "https://self-issued.me/v2"
URI_SCHEME: Final = "openid4vp://"

_B64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
#: 22 base64url characters carry 132 bits, the fewest that can hold the 128 random bits §5 requires
MIN_RANDOM_TOKEN_CHARS: Final = 22
MAX_RANDOM_TOKEN_CHARS: Final = 256

#: the response modes NetID speaks: the form in clear, or encrypted to the RP (OpenID4VP 1.0 §8.2, §8.3.1)
RESPONSE_MODES: Final = ("direct_post", "direct_post.jwt")
ENCRYPTED_RESPONSE_MODE: Final = "direct_post.jwt"
#: the JWE key agreement of an encrypted response: ECDH-ES over P-256, as the OpenID4VC high-assurance
#: profile requires (the same construction as :mod:`netid.credentials.jwe`, which this module does not
#: import: it loads jwcrypto, which only the parties that encrypt or decrypt need)
RESPONSE_JWE_ALG: Final = "ECDH-ES"
#: the content encryptions an encrypted response may use, in NetID's order of preference (== jwe.ALLOWED_ENC)
RESPONSE_ENC_VALUES: Final = ("A256GCM", "A128GCM")
#: OpenID4VP 1.0 §5.1: the ``enc`` a wallet uses when the request names none
_DEFAULT_RESPONSE_ENC: Final = "A128GCM"
_MAX_ENCRYPTION_KEYS: Final = 8


def client_metadata(
    encryption_jwk: Mapping[str, Any] | None = None,
    enc_values: tuple[str, ...] = RESPONSE_ENC_VALUES,
) -> dict[str, Any]:
    """The ``client_metadata`` of a NetID request (OpenID4VP 1.0 §5.1, §11.1): the one format NetID
    speaks, ``dc+sd-jwt``, with the algorithms its verifier accepts for the issuer's signature and the
    holder's KB-JWT. With ``encryption_jwk`` (for ``direct_post.jwt``, §8.3) also ``jwks`` holding that
    public key and ``encrypted_response_enc_values_supported`` = ``enc_values``."""
    algs = list(ALLOWED_ALGORITHMS)
    metadata: dict[str, Any] = {
        "vp_formats_supported": {NETCERT_TYP: {"sd-jwt_alg_values": algs, "kb-jwt_alg_values": algs}}
    }
    if encryption_jwk is not None:
        metadata["jwks"] = {"keys": [dict(encryption_jwk)]}
        metadata["encrypted_response_enc_values_supported"] = list(enc_values)
    return metadata


@dataclass(frozen=True, slots=True)
class ResponseEncryption:
    """Where and how a ``direct_post.jwt`` response is encrypted (OpenID4VP 1.0 §8.3): to ``jwk`` (the
    RP's public P-256 key, ``alg`` ``ECDH-ES``, with its ``kid``) with content encryption ``enc`` (the
    first of the request's ``encrypted_response_enc_values_supported`` that NetID uses)."""

    jwk: Mapping[str, Any] = field(repr=False)
    enc: str
    kid: str


def _encryption_key(jwk: object) -> bool:
    """Whether a ``client_metadata.jwks`` member is a key NetID encrypts to: ``EC``/``P-256``, ``alg``
    ``ECDH-ES``, ``use`` absent or ``enc``, a ``kid``, and a point on the curve. :class:`ParseError` for a
    key carrying private members (a publishing mistake never to paper over)."""
    if type(jwk) is not dict:
        return False
    if PRIVATE_JWK_MEMBERS & jwk.keys():
        raise ParseError("client_metadata", "an encryption key carries private key material")
    if (
        jwk.get("kty") != "EC"
        or jwk.get("crv") != "P-256"
        or jwk.get("alg") != RESPONSE_JWE_ALG
        or jwk.get("use", "enc") != "enc"
        or type(jwk.get("kid")) is not str
        or not jwk["kid"]
    ):
        return False
    try:
        x = b64url_decode(jwk["x"], "x")
        y = b64url_decode(jwk["y"], "y")
        if len(x) != 32 or len(y) != 32:
            return False
        ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
        ).public_key()
    except (KeyError, ParseError, ValueError, TypeError):
        return False
    return True


def response_encryption_from_claims(claims: Mapping[str, Any]) -> ResponseEncryption | None:
    """For ``response_mode=direct_post.jwt``, the encryption the request's ``client_metadata`` asks for;
    ``None`` for ``direct_post`` (a ``jwks`` there is ignored, §5.1).

    :class:`ParseError` unless ``client_metadata.jwks.keys`` holds 1-8 keys, one of them usable
    (:func:`_encryption_key`; the first such is taken), and
    ``encrypted_response_enc_values_supported``, if present, is a non-empty array of strings naming
    ``A128GCM`` or ``A256GCM`` (absent means ``A128GCM``)."""
    if claims.get("response_mode") != ENCRYPTED_RESPONSE_MODE:
        return None
    metadata = claims.get("client_metadata")
    if type(metadata) is not dict:
        raise ParseError("client_metadata", "direct_post.jwt needs client_metadata with 'jwks'")
    jwks = metadata.get("jwks")
    keys = jwks.get("keys") if type(jwks) is dict else None
    if type(keys) is not list or not 0 < len(keys) <= _MAX_ENCRYPTION_KEYS:
        raise ParseError("client_metadata", "direct_post.jwt needs 1-8 encryption keys in 'jwks'")
    usable = [k for k in keys if _encryption_key(k)]
    if not usable:
        raise ParseError("client_metadata", "no P-256 ECDH-ES encryption key with a kid in 'jwks'")
    values = metadata.get("encrypted_response_enc_values_supported", [_DEFAULT_RESPONSE_ENC])
    if type(values) is not list or not values or not all(type(v) is str for v in values):
        raise ParseError(
            "client_metadata", "'encrypted_response_enc_values_supported' must be a non-empty array"
        )
    enc = next((v for v in values if v in RESPONSE_ENC_VALUES), None)
    if enc is None:
        raise ParseError("client_metadata", "no content encryption NetID uses (A128GCM, A256GCM)")
    key = usable[0]
    return ResponseEncryption(jwk=key, enc=enc, kid=key["kid"])


@dataclass(frozen=True, slots=True)
class VpFormats:
    """What a request's ``client_metadata`` says the verifier accepts for ``dc+sd-jwt``: the issuer
    (``sd_jwt_algs``) and holder (``kb_jwt_algs``) signature algorithms; ``None`` where it does not say."""

    sd_jwt_algs: tuple[str, ...] | None = None
    kb_jwt_algs: tuple[str, ...] | None = None

    def accepts(self, issuer_alg: str, holder_alg: str) -> bool:
        """Whether a credential signed with ``issuer_alg`` and bound to a ``holder_alg`` key fits."""
        return (self.sd_jwt_algs is None or issuer_alg in self.sd_jwt_algs) and (
            self.kb_jwt_algs is None or holder_alg in self.kb_jwt_algs
        )


def vp_formats_from_claims(claims: Mapping[str, Any]) -> VpFormats:
    """The request's ``client_metadata``, checked: absent is fine (NetID's profile fixes the format);
    present, it must be an object whose ``vp_formats_supported`` (if any) names ``dc+sd-jwt`` with
    algorithm lists that are non-empty arrays of strings sharing one algorithm with NetID's. Unknown
    members are ignored (§5.1). :class:`ParseError` otherwise."""
    if "client_metadata" not in claims:
        return VpFormats()
    metadata = claims["client_metadata"]
    if type(metadata) is not dict:
        raise ParseError("client_metadata", "must be an object")
    if "vp_formats_supported" not in metadata:
        return VpFormats()
    formats = metadata["vp_formats_supported"]
    sd_jwt = formats.get(NETCERT_TYP) if type(formats) is dict else None
    if type(sd_jwt) is not dict:
        raise ParseError("client_metadata", f"the verifier does not accept {NETCERT_TYP}")
    found: list[tuple[str, ...] | None] = []
    for name in ("sd-jwt_alg_values", "kb-jwt_alg_values"):
        algs = sd_jwt.get(name)
        if algs is None:
            found.append(None)
            continue
        if type(algs) is not list or not algs or not all(type(a) is str for a in algs):
            raise ParseError("client_metadata", f"'{name}' must be a non-empty array of strings")
        usable = tuple(a for a in algs if a in ALLOWED_ALGORITHMS)
        if not usable:
            raise ParseError("client_metadata", f"no algorithm of '{name}' is one NetID uses")
        found.append(usable)
    return VpFormats(found[0], found[1])


def is_random_token(value: object) -> bool:
    """Whether ``value`` has the shape §5 requires of ``nonce`` and ``state`` (and a counter ``jti``):
    base64url (no padding) of 22-256 characters. Shape only: entropy cannot be checked, so an RP that
    supplies its own values must draw at least 128 bits from a CSPRNG."""
    return (
        type(value) is str
        and MIN_RANDOM_TOKEN_CHARS <= len(value) <= MAX_RANDOM_TOKEN_CHARS
        and _B64URL_RE.fullmatch(value) is not None
    )


@dataclass(frozen=True, slots=True)
class RequestTerms:
    """What a checked request asks, and of whom: the part online and in-person requests share.

    The wallet's credential choice, disclosure plan and consent prompt, and the verifier's presentation
    checks, read only these. Each mode adds the ``nonce`` the holder's KB-JWT must carry.
    """

    request_object: str = field(repr=False)
    client_id: str
    certificate: RpCertificate = field(repr=False)
    dcql_query: Mapping[str, Any] = field(repr=False)
    predicates: tuple[Predicate, ...]
    purpose: str
    min_mode: AuthMode | None
    iat: int
    exp: int
    # Derived once here rather than on every verification (the verifier's hot path reads them).
    in_scope: bool = field(init=False, repr=False, compare=False)
    asked_claims: frozenset[str] = field(init=False, repr=False, compare=False)
    value_predicates: tuple[Predicate, ...] = field(init=False, repr=False, compare=False)
    wants_subject: bool = field(init=False, repr=False, compare=False)
    wants_netno: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {p.name for p in self.predicates}
        ages = sum(1 for p in self.predicates if p.scope == "age_over")
        derived = {
            "in_scope": ages <= 1 and all(self.certificate.allows(p) for p in self.predicates),
            "asked_claims": frozenset(p.claim for p in self.predicates),
            "value_predicates": tuple(p for p in self.predicates if p.values is not None),
            "wants_subject": "subject" in names,
            "wants_netno": "netno" in names,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)


def terms_from_claims(token: str, claims: Mapping[str, Any], cert: RpCertificate) -> dict[str, Any]:
    """The :class:`RequestTerms` fields every mode parses the same way; :class:`ParseError` if malformed."""
    netid_params = claims.get("netid")
    if type(netid_params) is not dict:
        raise ParseError("request object", "netid parameters missing")
    purpose = netid_params.get("purpose")
    min_mode = netid_params.get("min_mode")
    if type(purpose) is not str or (min_mode is not None and min_mode not in MODES):
        raise ParseError("request object", "bad netid parameters")
    client_id = claims.get("client_id")
    if type(client_id) is not str or not client_id:
        raise ParseError("request object", "'client_id' missing")
    iat, exp = claims.get("iat"), claims.get("exp")
    if type(iat) is not int or type(exp) is not int:
        raise ParseError("request object", "iat/exp missing")
    dcql = claims.get("dcql_query")
    return {
        "request_object": token,
        "client_id": client_id,
        "certificate": cert,
        "dcql_query": dcql,
        "predicates": parse_dcql(dcql),
        "purpose": purpose,
        "min_mode": min_mode,
        "iat": iat,
        "exp": exp,
    }


@dataclass(frozen=True, slots=True)
class PresentationRequest(RequestTerms):
    """A signed online OpenID4VP request plus what the verifier needs to check the response to it.

    Keep it (in memory, or serialised with :meth:`to_dict`) between sending the request and receiving
    the response: :meth:`netid.verifier.Verifier.verify` checks the response against *these* values,
    never against anything the wallet echoes back.
    """

    nonce: str = field(repr=False)
    state: str
    response_uri: str
    #: what the request's ``client_metadata`` says the verifier accepts (the wallet picks a credential
    #: that fits)
    vp_formats: VpFormats = field(default=VpFormats(), repr=False)
    #: ``direct_post`` or ``direct_post.jwt`` (:data:`RESPONSE_MODES`)
    response_mode: str = "direct_post"
    #: for ``direct_post.jwt``: the RP's key and the ``enc`` the response is encrypted with
    response_encryption: ResponseEncryption | None = field(default=None, repr=False)

    def to_uri(self, request_uri: str | None = None) -> str:
        """The ``openid4vp://`` URI for a QR code or link.

        By value (``request=<JWT>``) by default; with ``request_uri`` the wallet fetches the JWT from
        there (shorter QR codes, and the request's values never appear on a screen).
        """
        params = {"client_id": self.client_id}
        if request_uri is None:
            params["request"] = self.request_object
        else:
            params["request_uri"] = request_uri
            params["request_uri_method"] = "get"
        return URI_SCHEME + "?" + urllib.parse.urlencode(params)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form for an RP's session store (restore with :meth:`from_dict`)."""
        return {"request_object": self.request_object, "rp_certificate": self.certificate.token}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PresentationRequest:
        """Rebuild from :meth:`to_dict`. The data must come from the RP's own trusted storage."""
        try:
            cert = rp_certificate_unverified(data["rp_certificate"])
            _header, payload, _, _ = decode_jws_unverified(data["request_object"])
            return request_from_claims(data["request_object"], payload, cert)
        except (KeyError, TypeError, ParseError) as exc:
            raise UsageError(f"not a stored presentation request: {exc}") from exc


def request_from_claims(token: str, claims: Mapping[str, Any], cert: RpCertificate) -> PresentationRequest:
    """An online request from its (authenticated) claims; :class:`ParseError` if malformed."""
    terms = terms_from_claims(token, claims, cert)
    for name in ("nonce", "state", "response_uri"):
        if type(claims.get(name)) is not str or not claims[name]:
            raise ParseError("request object", f"'{name}' missing")
    for name in ("nonce", "state"):
        if not is_random_token(claims[name]):
            raise ParseError("request object", f"'{name}' must be base64url of at least 22 characters")
    mode = claims.get("response_mode", "direct_post")
    if mode not in RESPONSE_MODES:
        raise ParseError("request object", "unsupported response_mode")
    return PresentationRequest(
        **terms,
        nonce=claims["nonce"],
        state=claims["state"],
        response_uri=claims["response_uri"],
        vp_formats=vp_formats_from_claims(claims),
        response_mode=mode,
        response_encryption=response_encryption_from_claims(claims),
    )


# --- the wallet's view ------------------------------------------------------------------------------


def request_object_from_uri(uri: str, *, fetch: Callable[[str], str] | None = None) -> tuple[str, str | None]:
    """Extract ``(request object JWT, client_id from the URI)`` from an ``openid4vp://`` URI.

    A bare JWT is returned as is. ``request_uri`` needs ``fetch`` (URI → JWT text; the app does HTTP).
    Raises :class:`VerificationError` ``request`` for anything else — including an unsigned request made
    of plain query parameters, which NetID never accepts.
    """
    if not isinstance(uri, str):
        raise VerificationError("request", "request is not a string")
    if not uri.startswith(URI_SCHEME):
        if uri.count(".") == 2 and " " not in uri:
            return uri, None
        raise VerificationError("request", "not an openid4vp:// URI or a request object")
    try:
        query = urllib.parse.urlsplit(uri).query
        params = urllib.parse.parse_qs(query, strict_parsing=True, max_num_fields=16)
    except ValueError as exc:  # urlsplit refuses e.g. "openid4vp://[" (an unterminated IPv6 host)
        raise VerificationError("request", "malformed request URI") from exc
    if any(len(v) != 1 for v in params.values()):
        raise VerificationError("request", "repeated request URI parameter")
    one = {k: v[0] for k, v in params.items()}
    client_id = one.get("client_id")
    if "request" in one and "request_uri" not in one:
        return one["request"], client_id
    if "request_uri" in one and "request" not in one:
        if fetch is None:
            raise VerificationError("request", "request_uri given but no fetch callable")
        try:
            fetched = fetch(one["request_uri"])
        except Exception as exc:  # the app's fetcher: any failure of it means "no request"
            raise VerificationError("request", "could not fetch request_uri") from exc
        return fetched, client_id
    raise VerificationError("request", "unsigned request (no request object)")


def _open_rp_signed_object(
    token: str, *, typ: str, trust: IssuerTrust, now: int, policy: Policy, max_lifetime: int
) -> tuple[dict[str, Any], RpCertificate]:
    """Check a JWS an RP signed with the key of the RP certificate in its ``jwt`` header.

    In order, raising :class:`VerificationError`: a JWS of at most ``policy.max_request_bytes``
    (``request``) with an allowed ``alg`` (``algorithm``), header ``typ`` = ``typ`` and no ``crit``
    (``request``); an RP certificate signed by the trusted issuer and currently valid
    (``rp_certificate``); the signature under the certificate's key (``request_signature``);
    ``iat``/``exp`` current within ``policy.leeway`` and at most ``max_lifetime`` apart (``request``).
    Returns the (now authenticated) claims and the certificate.
    """
    if len(token) > policy.max_request_bytes:
        raise VerificationError("request", "request object is too large")
    try:
        header, claims, signing_input, signature = decode_jws_unverified(token)
    except ParseError as exc:
        raise VerificationError("request", "request object is not a JWS") from exc
    alg = check_algorithm(header.get("alg"))
    if not typ_matches(header.get("typ"), typ):
        raise VerificationError("request", "request object has the wrong typ")
    if "crit" in header:
        raise VerificationError("request", "request object has critical header parameters")
    cert_token = header.get("jwt")
    if type(cert_token) is not str:
        raise VerificationError("rp_certificate", "request carries no RP certificate")
    cert = parse_rp_certificate(cert_token, trust, now, policy=policy)
    rp_key = load_public_jwk(cert.request_jwk)  # parse_rp_certificate has loaded it once already
    if rp_key.alg != alg or not rp_key.verify(signing_input, signature):
        raise VerificationError("request_signature", "request not signed by the RP's registered key")
    exp, iat = claims.get("exp"), claims.get("iat")
    if type(exp) is not int or type(iat) is not int or now > exp + policy.leeway or iat > now + policy.leeway:
        raise VerificationError("request", "request object expired or not yet valid")
    if exp - iat > max_lifetime:
        raise VerificationError("request", f"request lifetime exceeds {max_lifetime} seconds")
    return claims, cert


TermsT = TypeVar("TermsT", bound=RequestTerms)


def open_signed_request(
    token: str,
    *,
    typ: str,
    trust: IssuerTrust,
    now: int,
    policy: Policy,
    max_lifetime: int,
    parse: Callable[[str, Mapping[str, Any], RpCertificate], TermsT],
    mode_checks: Callable[[Mapping[str, Any], RpCertificate], None] | None = None,
) -> TermsT:
    """The wallet's opening of a signed request of either mode.

    In order (codes in brackets): the signed-object checks of ``_open_rp_signed_object`` (``request``,
    ``algorithm``, ``rp_certificate``, ``request_signature``); ``client_id`` is the certificate's
    (``client_id``); the mode's own ``mode_checks``; **scope first** (:func:`check_scope`: the DCQL
    query's bounded shape, ``request``, then every claim it names within the certificate and at most one
    age threshold, ``rp_scope``) before the query is parsed any further; the terms parse (``request``);
    the purpose is registered (``purpose``).
    """
    claims, cert = _open_rp_signed_object(
        token, typ=typ, trust=trust, now=now, policy=policy, max_lifetime=max_lifetime
    )
    if claims.get("client_id") != cert.client_id:
        raise VerificationError("client_id", "client_id does not match the RP certificate")
    if mode_checks is not None:
        mode_checks(claims, cert)
    check_scope(claims.get("dcql_query"), cert)
    try:
        opened = parse(token, claims, cert)
    except ParseError as exc:
        raise VerificationError("request", f"malformed request: {exc.reason}") from exc
    if opened.purpose not in cert.purposes:
        raise VerificationError("purpose", "purpose is not registered in the RP certificate")
    if not opened.in_scope:  # already refused by check_scope; kept so the two can never disagree
        raise VerificationError("rp_scope", "the request asks more than the RP certificate allows")
    return opened


def check_scope(dcql: object, cert: RpCertificate) -> None:
    """The wallet's scope check, from the claim names alone and before the DCQL query is parsed further.

    :class:`VerificationError` ``request`` if the query is not of NetID's bounded shape (at most
    :data:`~netid.oid4vp.dcql.MAX_CREDENTIAL_QUERIES` credential queries, known claims); ``rp_scope`` if
    a claim is outside the certificate (an age threshold must be one the issuer mints) or more than one
    age threshold is asked — several would reveal an age bracket, which no certificate allows.
    """
    try:
        scopes = requested_scopes(dcql)
    except ParseError as exc:
        raise VerificationError("request", f"malformed request: {exc.reason}") from exc
    for name, scope in scopes:
        if not cert.allows_scope(name, scope):
            raise VerificationError("rp_scope", f"the RP is not allowed to ask {name!r}")
    if sum(1 for _, scope in scopes if scope == "age_over") > 1:
        raise VerificationError("rp_scope", "a request may ask one age threshold, not an age bracket")


def open_request(
    request: str,
    *,
    trust: IssuerTrust,
    now: int,
    fetch: Callable[[str], str] | None = None,
    policy: Policy = DEFAULT_POLICY,
    allow_loopback_http: bool = False,
) -> PresentationRequest:
    """The wallet's check of a scanned online request (URI or request object JWT).

    In order, raising :class:`VerificationError` with the code in brackets:

    1. the request is a signed request object (``request``) of at most ``policy.max_request_bytes``, of
       ``typ`` ``oauth-authz-req+jwt`` and an allowed ``alg`` (``request``/``algorithm``);
    2. its ``jwt`` header holds an RP certificate signed by the issuer and currently valid
       (``rp_certificate``);
    3. the request is signed by the certificate's key (``request_signature``), is current and lives at
       most ``policy.max_request_lifetime`` (``request``);
    4. ``client_id`` is the certificate's, and equals the URI's ``client_id`` if any (``client_id``);
    5. ``response_type`` is ``vp_token`` and ``response_mode`` ``direct_post`` or ``direct_post.jwt``
       (``request``);
    6. ``response_uri`` is one of the certificate's — an exact entry, or one further path segment under
       a prefix entry (:meth:`~netid.oid4vp.certificate.RpCertificate.response_uri_registered`) — and an
       ``https`` URL, ``http`` to a loopback host only with ``allow_loopback_http``, a development mode
       (``response_uri``);
    7. the DCQL query has NetID's bounded shape (``request``) and every claim it names is one the
       certificate allows, with at most one age threshold (``rp_scope``) — before any further parsing;
    8. the request is well formed, its DCQL query exactly a NetID query and its ``client_metadata``, if
       any, accepts ``dc+sd-jwt`` with an algorithm NetID uses; for ``direct_post.jwt`` it names a P-256
       ``ECDH-ES`` encryption key with a ``kid`` and a content encryption NetID uses
       (:func:`response_encryption_from_claims`) (``request``);
    9. the purpose is one of the certificate's (``purpose``).
    """
    token, uri_client_id = request_object_from_uri(request, fetch=fetch)

    def online_checks(claims: Mapping[str, Any], cert: RpCertificate) -> None:
        if uri_client_id is not None and uri_client_id != cert.client_id:
            raise VerificationError("client_id", "client_id does not match the RP certificate")
        if claims.get("response_type") != "vp_token" or claims.get("response_mode") not in RESPONSE_MODES:
            raise VerificationError("request", "unsupported response_type or response_mode")
        uri = claims.get("response_uri")
        if not cert.response_uri_registered(uri):
            raise VerificationError("response_uri", "response_uri is not one of the RP's registered URIs")
        if not cert.response_uri_allowed(uri, allow_loopback_http=allow_loopback_http):
            raise VerificationError(
                "response_uri", "response_uri must be https (http only to loopback, in development mode)"
            )

    return open_signed_request(
        token,
        typ=REQUEST_TYP,
        trust=trust,
        now=now,
        policy=policy,
        max_lifetime=policy.max_request_lifetime,
        parse=request_from_claims,
        mode_checks=online_checks,
    )
