"""Signed presentation requests, as both the relying party and the wallet see them (OpenID4VP 1.0).

A relying party asks in one of two modes, and both are a JWS signed with the key of the RP's access
certificate (:mod:`netid.oid4vp.certificate`), which travels in the ``jwt`` JOSE header:

* **online** — a request object (JAR, ``typ: oauth-authz-req+jwt``) with ``response_type=vp_token``,
  ``response_mode=direct_post``, ``client_id``, ``response_uri``, ``nonce``, ``state``, ``dcql_query``
  (:mod:`netid.oid4vp.dcql`), ``aud=https://self-issued.me/v2``, ``iat``/``exp`` and a ``netid`` object
  carrying the purpose and the minimum holder-authentication mode. Delivered by value
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

from netid.credentials.jose import check_algorithm, decode_jws_unverified, load_public_jwk, typ_matches
from netid.credentials.trust import IssuerTrust
from netid.errors import ParseError, UsageError, VerificationError
from netid.oid4vp.certificate import RpCertificate, parse_rp_certificate, rp_certificate_unverified
from netid.oid4vp.dcql import Predicate, parse_dcql
from netid.oid4vp.modes import MODES, AuthMode
from netid.policy import DEFAULT_POLICY, Policy

__all__ = [
    "REQUEST_AUD",
    "REQUEST_TYP",
    "URI_SCHEME",
    "PresentationRequest",
    "RequestTerms",
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
        derived = {
            "in_scope": all(self.certificate.allows(p) for p in self.predicates),
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
    return PresentationRequest(
        **terms, nonce=claims["nonce"], state=claims["state"], response_uri=claims["response_uri"]
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
    (``client_id``); the mode's own ``mode_checks``; the terms parse (``request``); the purpose is
    registered (``purpose``); every predicate is within the certificate (``rp_scope``).
    """
    claims, cert = _open_rp_signed_object(
        token, typ=typ, trust=trust, now=now, policy=policy, max_lifetime=max_lifetime
    )
    if claims.get("client_id") != cert.client_id:
        raise VerificationError("client_id", "client_id does not match the RP certificate")
    if mode_checks is not None:
        mode_checks(claims, cert)
    try:
        opened = parse(token, claims, cert)
    except ParseError as exc:
        raise VerificationError("request", f"malformed request: {exc.reason}") from exc
    if opened.purpose not in cert.purposes:
        raise VerificationError("purpose", "purpose is not registered in the RP certificate")
    for pred in opened.predicates:
        if not cert.allows(pred):
            raise VerificationError("rp_scope", f"the RP is not allowed to ask {pred.name!r}")
    return opened


def open_request(
    request: str,
    *,
    trust: IssuerTrust,
    now: int,
    fetch: Callable[[str], str] | None = None,
    policy: Policy = DEFAULT_POLICY,
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
    5. ``response_mode``/``response_type`` are ``direct_post``/``vp_token`` (``request``);
    6. ``response_uri`` is one of the certificate's (``response_uri``);
    7. the request is well formed and its DCQL query a NetID query (``request``);
    8. the purpose is one of the certificate's (``purpose``);
    9. every predicate is one the certificate allows (``rp_scope``).
    """
    token, uri_client_id = request_object_from_uri(request, fetch=fetch)

    def online_checks(claims: Mapping[str, Any], cert: RpCertificate) -> None:
        if uri_client_id is not None and uri_client_id != cert.client_id:
            raise VerificationError("client_id", "client_id does not match the RP certificate")
        if claims.get("response_type") != "vp_token" or claims.get("response_mode") != "direct_post":
            raise VerificationError("request", "unsupported response_type or response_mode")
        if claims.get("response_uri") not in cert.response_uris:
            raise VerificationError("response_uri", "response_uri is not one of the RP's registered URIs")

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
