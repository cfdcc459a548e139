"""Relying-party side of OpenID4VP 1.0: access certificates, queries and signed request objects.

**RP access certificate.** The issuer signs a JWT (``typ: netid-rp+jwt``) stating who the RP is and what
it may ask: ``sub`` (the RP id), ``name``, ``sector``, ``allowed_predicates``, ``purposes``,
``response_uris`` and ``cnf.jwk`` (the RP's request-signing public key). This is the NetID profile of
OpenID4VP's *verifier attestation* (§5.9.3): the ``client_id`` is ``verifier_attestation:<rp id>``, and
the certificate travels in the request object's ``jwt`` JOSE header, so a wallet needs nothing but the
request and the issuer's JWKS to authenticate the RP.

**Request object.** A JWT (``typ: oauth-authz-req+jwt``) signed with the key in the certificate, with
``response_type=vp_token``, ``response_mode=direct_post``, ``client_id``, ``response_uri``, ``nonce``,
``state``, ``dcql_query`` (:mod:`netid.verifier.dcql`), ``aud=https://self-issued.me/v2``, ``iat``/``exp``,
and a ``netid`` object carrying the purpose and the minimum holder-authentication mode. It is delivered by
value (``openid4vp://?client_id=…&request=…``) or by reference (``…&request_uri=…``).

:func:`build_request` is the RP's entry point; :func:`open_request` is what a wallet calls on what it
scanned (it checks signatures, scope and response URI and raises :class:`VerificationError` with a stable
code; :mod:`netid.wallet.present` turns those into refusals).
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from netid.credentials.jose import (
    PRIVATE_JWK_MEMBERS,
    SigningKey,
    VerifyingKey,
    check_algorithm,
    decode_jws_unverified,
    jwk_thumbprint,
    load_public_jwk,
    public_jwk,
    sign_jws,
    typ_matches,
    verify_jws_signature,
)
from netid.credentials.jose import b64url_encode as _b64
from netid.credentials.status_list import status_claim
from netid.errors import NetIDError, ParseError, UsageError, VerificationError
from netid.verifier.answers import MODES, AuthMode
from netid.verifier.dcql import (
    Predicate,
    age_predicate,
    build_dcql,
    doc_valid_predicate,
    id_number_predicate,
    name_predicate,
    netno_predicate,
    parse_dcql,
    region_predicate,
    scope_allows,
    subject_predicate,
)
from netid.verifier.trust import IssuerTrust

__all__ = [
    "CLIENT_ID_PREFIX",
    "REQUEST_TYP",
    "RP_CERT_TYP",
    "PresentationRequest",
    "Query",
    "RequestTerms",
    "RpCertificate",
    "build_request",
    "issue_rp_certificate",
    "open_request",
    "parse_rp_certificate",
]

RP_CERT_TYP: Final = "netid-rp+jwt"
REQUEST_TYP: Final = "oauth-authz-req+jwt"
CLIENT_ID_PREFIX: Final = "verifier_attestation:"
#: OpenID4VP 1.0 §5.8: the audience of a request object for a wallet without published metadata.
REQUEST_AUD: Final = "https://self-issued.me/v2"
URI_SCHEME: Final = "openid4vp://"
KNOWN_SCOPES: Final = (
    "age_over",
    "doc_valid",
    "name_equals",
    "id_number_equals",
    "region_in",
    "subject",
    "netno",
)


# --- RP access certificate -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RpCertificate:
    """A parsed, verified RP access certificate."""

    rp_id: str
    name: str
    sector: str
    allowed_predicates: tuple[str, ...]
    purposes: tuple[str, ...]
    response_uris: tuple[str, ...]
    request_jwk: Mapping[str, Any]
    issuer: str
    iat: int
    exp: int
    token: str = field(repr=False)
    #: ``(uri, idx)`` of the certificate's Token Status List entry, if the issuer gave it one (§4)
    status: tuple[str, int] | None = None

    @property
    def client_id(self) -> str:
        """The OpenID4VP ``client_id`` this certificate authenticates."""
        return CLIENT_ID_PREFIX + self.rp_id

    def allows(self, predicate: Predicate) -> bool:
        return scope_allows(self.allowed_predicates, predicate)


def issue_rp_certificate(
    *,
    issuer: str,
    issuer_key: SigningKey,
    kid: str,
    rp_id: str,
    name: str,
    sector: str,
    allowed_predicates: Sequence[str],
    purposes: Sequence[str],
    response_uris: Sequence[str],
    request_jwk: Mapping[str, Any],
    now: int,
    validity: int = 365 * 86_400,
    status: tuple[str, int] | None = None,
) -> str:
    """Sign an RP access certificate (the issuer's RP registry calls this).

    ``status = (uri, idx)`` adds a ``status`` claim (Token Status List entry) so wallets can refuse a
    revoked RP before its certificate expires (protocol.md §4).
    """
    if not rp_id or not name or not sector or not purposes or not response_uris:
        raise UsageError("rp_id, name, sector, purposes and response_uris are required")
    for scope in allowed_predicates:
        base = "age_over" if scope.startswith("age_over_") and scope[9:].isdigit() else scope
        if base not in KNOWN_SCOPES:
            raise UsageError(f"unknown predicate scope {scope!r}")
    if not PRIVATE_JWK_MEMBERS.isdisjoint(request_jwk):
        raise UsageError("request_jwk must be a public key")
    load_public_jwk(request_jwk)  # refuses unsupported keys now rather than at every wallet
    claims = {
        "iss": issuer,
        "sub": rp_id,
        "name": name,
        "sector": sector,
        "allowed_predicates": list(allowed_predicates),
        "purposes": list(purposes),
        "response_uris": list(response_uris),
        "cnf": {"jwk": dict(request_jwk)},
        "iat": now,
        "exp": now + validity,
    }
    if status is not None:
        claims["status"] = status_claim(*status)
    return sign_jws(claims, issuer_key, typ=RP_CERT_TYP, kid=kid)


def _status_ref(payload: Mapping[str, Any]) -> tuple[str, int] | None:
    """The ``status.status_list`` reference of a token payload; ``None`` if absent; ``ValueError`` if
    present but malformed."""
    if "status" not in payload:
        return None
    status = payload["status"]
    ref = status.get("status_list") if type(status) is dict else None
    uri = ref.get("uri") if type(ref) is dict else None
    idx = ref.get("idx") if type(ref) is dict else None
    if type(uri) is not str or not uri or type(idx) is not int or idx < 0:
        raise ValueError("malformed status reference")
    return uri, idx


def _str_list(payload: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = payload.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise VerificationError("rp_certificate", f"'{name}' must be an array of strings")
    return tuple(value)


def parse_rp_certificate(
    token: str, issuer_jwks: Mapping[str, Any] | IssuerTrust, now: int, *, leeway: int = 60
) -> RpCertificate:
    """Verify an RP access certificate against the issuer's JWKS and return it.

    Raises :class:`VerificationError` ``rp_certificate`` for every failure (malformed, bad signature,
    unknown key, wrong ``typ``, expired), or ``algorithm`` for a disallowed ``alg``.
    """
    trust = issuer_jwks if isinstance(issuer_jwks, IssuerTrust) else IssuerTrust.from_jwks(issuer_jwks)
    try:
        header, payload, signing_input, signature = decode_jws_unverified(token)
    except ParseError as exc:
        raise VerificationError("rp_certificate", "RP certificate is not a JWS") from exc
    alg = check_algorithm(header.get("alg"))
    if not typ_matches(header.get("typ"), RP_CERT_TYP) or "crit" in header:
        # NetID defines no critical header parameters; an unknown one must not be ignored (RFC 7515)
        raise VerificationError("rp_certificate", "wrong typ for an RP certificate")
    try:
        key = trust.key_for(header, payload)
    except VerificationError as exc:
        raise VerificationError(
            "rp_certificate", "RP certificate not signed by a trusted issuer key"
        ) from exc
    if not verify_jws_signature(signing_input, signature, alg, key):
        raise VerificationError("rp_certificate", "RP certificate signature is invalid")
    iat, exp = payload.get("iat"), payload.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or isinstance(iat, bool) or isinstance(exp, bool):
        raise VerificationError("rp_certificate", "iat/exp missing")
    if now > exp + leeway:
        raise VerificationError("rp_certificate", "RP certificate has expired")
    if iat > now + leeway:
        raise VerificationError("rp_certificate", "RP certificate is not yet valid")
    strings = {}
    for name in ("iss", "sub", "name", "sector"):
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            raise VerificationError("rp_certificate", f"'{name}' missing")
        strings[name] = value
    cnf = payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise VerificationError("rp_certificate", "cnf.jwk missing")
    try:
        load_public_jwk(jwk)
    except ParseError as exc:
        raise VerificationError("rp_certificate", "cnf.jwk is not a usable key") from exc
    try:
        status = _status_ref(payload)
    except ValueError as exc:
        raise VerificationError("rp_certificate", "RP certificate has a malformed status claim") from exc
    return RpCertificate(
        rp_id=strings["sub"],
        name=strings["name"],
        sector=strings["sector"],
        allowed_predicates=_str_list(payload, "allowed_predicates"),
        purposes=_str_list(payload, "purposes"),
        response_uris=_str_list(payload, "response_uris"),
        request_jwk=jwk,
        issuer=strings["iss"],
        iat=iat,
        exp=exp,
        token=token,
        status=status,
    )


def _rp_certificate_unverified(token: str) -> RpCertificate:
    """Parse the RP's *own* certificate without the issuer key (the RP trusts what it was given)."""
    try:
        header, payload, _, _ = decode_jws_unverified(token)
    except ParseError as exc:
        raise UsageError("rp_certificate is not a JWS") from exc
    if not typ_matches(header.get("typ"), RP_CERT_TYP):
        raise UsageError("rp_certificate is not an RP certificate")
    try:
        return RpCertificate(
            rp_id=payload["sub"],
            name=payload["name"],
            sector=payload["sector"],
            allowed_predicates=tuple(payload["allowed_predicates"]),
            purposes=tuple(payload["purposes"]),
            response_uris=tuple(payload["response_uris"]),
            request_jwk=payload["cnf"]["jwk"],
            issuer=payload["iss"],
            iat=payload["iat"],
            exp=payload["exp"],
            token=token,
            status=_status_ref(payload),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError("rp_certificate lacks required claims") from exc


# --- queries -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """What an RP wants to know, in its own terms.

    Every field left at its default is not asked. ``name_equals``/``id_number_equals`` are values the RP
    already holds (e.g. typed by the user); the answer says whether they match the card. ``region_in``
    takes codes of one level (2, 4 or 6 digits). ``min_mode`` is the weakest holder-authentication mode
    accepted (``device`` < ``pin`` < ``face`` < ``pin+face``). ``purpose`` must be one of the purposes in
    the RP's certificate; wallets show it to the user.
    """

    purpose: str
    age_over: int | None = None
    name_equals: str | None = field(default=None, repr=False)
    id_number_equals: str | None = field(default=None, repr=False)
    region_in: Sequence[str] | None = None
    doc_valid: bool = False
    min_mode: AuthMode | None = None
    want_subject: bool = False
    want_netno: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.purpose, str) or not self.purpose:
            raise UsageError("purpose is required")
        if self.min_mode is not None and self.min_mode not in MODES:
            raise UsageError(f"min_mode must be one of {MODES}")
        if self.region_in is not None:
            object.__setattr__(self, "region_in", tuple(self.region_in))
        self.predicates()  # validates every value now, not at build time

    def predicates(self) -> tuple[Predicate, ...]:
        """The predicates this query asks, in a fixed order."""
        out: list[Predicate] = []
        if self.age_over is not None:
            out.append(age_predicate(self.age_over))
        if self.doc_valid:
            out.append(doc_valid_predicate())
        if self.name_equals is not None:
            out.append(name_predicate(self.name_equals))
        if self.id_number_equals is not None:
            out.append(id_number_predicate(self.id_number_equals))
        if self.region_in is not None:
            out.append(region_predicate(self.region_in))
        if self.want_subject:
            out.append(subject_predicate())
        if self.want_netno:
            out.append(netno_predicate())
        return tuple(out)


# --- the request -------------------------------------------------------------------------------------


class RequestTerms(Protocol):
    """What a checked request asks, and of whom: the part an online request and an in-person counter
    request (:mod:`netid.verifier.in_person`) share. The wallet's selection, disclosure plan and consent
    prompt, and the verifier's presentation checks, read only these."""

    @property
    def client_id(self) -> str: ...
    @property
    def certificate(self) -> RpCertificate: ...
    @property
    def predicates(self) -> tuple[Predicate, ...]: ...
    @property
    def purpose(self) -> str: ...
    @property
    def min_mode(self) -> AuthMode | None: ...
    @property
    def in_scope(self) -> bool: ...
    @property
    def asked_claims(self) -> frozenset[str]: ...
    @property
    def value_predicates(self) -> tuple[Predicate, ...]: ...
    @property
    def wants_subject(self) -> bool: ...
    @property
    def wants_netno(self) -> bool: ...


def set_derived_terms(obj: object, predicates: tuple[Predicate, ...], certificate: RpCertificate) -> None:
    """Set the derived :class:`RequestTerms` fields on a frozen request dataclass (from ``__post_init__``).

    Derived once rather than on every verification: the verifier's hot path reads them.
    """
    names = {p.name for p in predicates}
    derived = {
        "in_scope": all(certificate.allows(p) for p in predicates),
        "asked_claims": frozenset(p.claim for p in predicates),
        "value_predicates": tuple(p for p in predicates if p.values is not None),
        "wants_subject": "subject" in names,
        "wants_netno": "netno" in names,
    }
    for name, value in derived.items():
        object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class PresentationRequest:
    """A signed OpenID4VP request plus what the verifier needs to check the response to it.

    Keep it (in memory, or serialised with :meth:`to_dict`) between sending the request and receiving
    the response: :meth:`netid.verifier.Verifier.verify` checks the response against *these* values,
    never against anything the wallet echoes back.
    """

    request_object: str = field(repr=False)
    client_id: str
    nonce: str
    state: str
    response_uri: str
    dcql_query: Mapping[str, Any] = field(repr=False)
    predicates: tuple[Predicate, ...]
    purpose: str
    min_mode: AuthMode | None
    certificate: RpCertificate = field(repr=False)
    iat: int
    exp: int
    # Derived once here rather than on every verification (the verifier's hot path reads them).
    in_scope: bool = field(init=False, repr=False, compare=False)
    asked_claims: frozenset[str] = field(init=False, repr=False, compare=False)
    value_predicates: tuple[Predicate, ...] = field(init=False, repr=False, compare=False)
    wants_subject: bool = field(init=False, repr=False, compare=False)
    wants_netno: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_derived_terms(self, self.predicates, self.certificate)

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
        cert = _rp_certificate_unverified(data["rp_certificate"])
        _header, payload, _, _ = decode_jws_unverified(data["request_object"])
        return _request_from_claims(data["request_object"], payload, cert)


def netid_params_from_claims(claims: Mapping[str, Any]) -> tuple[str, AuthMode | None]:
    """``(purpose, min_mode)`` from a request's ``netid`` claim; :class:`ParseError` if malformed."""
    netid_params = claims.get("netid")
    if not isinstance(netid_params, dict):
        raise ParseError("request object", "netid parameters missing")
    purpose = netid_params.get("purpose")
    min_mode = netid_params.get("min_mode")
    if not isinstance(purpose, str) or (min_mode is not None and min_mode not in MODES):
        raise ParseError("request object", "bad netid parameters")
    return purpose, min_mode


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


def _request_from_claims(token: str, claims: Mapping[str, Any], cert: RpCertificate) -> PresentationRequest:
    purpose, min_mode = netid_params_from_claims(claims)
    for name in ("client_id", "nonce", "state", "response_uri"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise ParseError("request object", f"'{name}' missing")
    for name in ("nonce", "state"):
        if not is_random_token(claims[name]):
            raise ParseError("request object", f"'{name}' must be base64url of at least 22 characters")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise ParseError("request object", "iat/exp missing")
    return PresentationRequest(
        request_object=token,
        client_id=claims["client_id"],
        nonce=claims["nonce"],
        state=claims["state"],
        response_uri=claims["response_uri"],
        dcql_query=claims["dcql_query"],
        predicates=parse_dcql(claims.get("dcql_query")),
        purpose=purpose,
        min_mode=min_mode,
        certificate=cert,
        iat=iat,
        exp=exp,
    )


def rp_terms_for_query(
    query: Query, *, rp_key: SigningKey, rp_certificate: str
) -> tuple[RpCertificate, tuple[Predicate, ...], dict[str, Any], dict[str, Any]]:
    """The RP-side checks every signed request needs, and its terms.

    Returns ``(certificate, predicates, dcql_query, netid parameters)``. Raises :class:`UsageError` if
    the purpose or a predicate is outside the certificate, or ``rp_key`` is not its request-signing key
    (a wallet would refuse all of these).
    """
    cert = _rp_certificate_unverified(rp_certificate)
    if query.purpose not in cert.purposes:
        raise UsageError("purpose is not registered in the RP certificate")
    predicates = query.predicates()
    for pred in predicates:
        if not cert.allows(pred):
            raise UsageError(f"the RP certificate does not allow {pred.name!r}")
    if jwk_thumbprint(public_jwk(rp_key)) != jwk_thumbprint(cert.request_jwk):
        raise UsageError("rp_key is not the request-signing key of the RP certificate")
    netid_params: dict[str, Any] = {"purpose": query.purpose}
    if query.min_mode is not None:
        netid_params["min_mode"] = query.min_mode
    return cert, predicates, build_dcql(predicates), netid_params


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
    rng: Callable[[int], bytes] = secrets.token_bytes,
    ttl: int = 300,
) -> PresentationRequest:
    """Build and sign the OpenID4VP request for ``query``.

    ``client_id`` defaults to (and, if given, must equal) ``verifier_attestation:<rp id>``. ``nonce`` and
    ``state`` default to 128 random bits from ``rng``. Raises :class:`UsageError` if the query asks for a
    predicate or purpose outside the certificate, ``response_uri`` is not registered in it, or ``rp_key``
    is not the certificate's request-signing key — a wallet would refuse all of these.
    """
    cert, predicates, dcql, netid_params = rp_terms_for_query(
        query, rp_key=rp_key, rp_certificate=rp_certificate
    )
    if client_id is not None and client_id != cert.client_id:
        raise UsageError(f"client_id must be {cert.client_id!r} for this certificate")
    if response_uri not in cert.response_uris:
        raise UsageError("response_uri is not registered in the RP certificate")
    nonce = nonce if nonce is not None else _b64(rng(16))
    state = state if state is not None else _b64(rng(16))
    if not is_random_token(nonce) or not is_random_token(state):
        raise UsageError(
            f"nonce and state must be base64url of {MIN_RANDOM_TOKEN_CHARS}-{MAX_RANDOM_TOKEN_CHARS} "
            "characters (>= 128 random bits; protocol.md §5)"
        )
    claims: dict[str, Any] = {
        "aud": REQUEST_AUD,
        "iat": now,
        "exp": now + ttl,
        "response_type": "vp_token",
        "response_mode": "direct_post",
        "client_id": cert.client_id,
        "response_uri": response_uri,
        "nonce": nonce,
        "state": state,
        "dcql_query": dcql,
        "netid": netid_params,
    }
    token = sign_jws(claims, rp_key, typ=REQUEST_TYP, extra_headers={"jwt": rp_certificate})
    return PresentationRequest(
        request_object=token,
        client_id=cert.client_id,
        nonce=nonce,
        state=state,
        response_uri=response_uri,
        dcql_query=dcql,
        predicates=predicates,
        purpose=query.purpose,
        min_mode=query.min_mode,
        certificate=cert,
        iat=now,
        exp=now + ttl,
    )


# --- the wallet's view --------------------------------------------------------------------------------


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
    query = urllib.parse.urlsplit(uri).query
    try:
        params = urllib.parse.parse_qs(query, strict_parsing=True, max_num_fields=16)
    except ValueError as exc:
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
        except Exception as exc:
            raise VerificationError("request", "could not fetch request_uri") from exc
        return fetched, client_id
    raise VerificationError("request", "unsigned request (no request object)")


def open_rp_signed_object(
    token: str,
    *,
    typ: str,
    issuer_jwks: Mapping[str, Any] | IssuerTrust,
    now: int,
    leeway: int = 60,
) -> tuple[dict[str, Any], RpCertificate]:
    """Check a JWS an RP signed with the key of the RP certificate in its ``jwt`` header.

    Shared by online request objects and in-person counter requests. In order, raising
    :class:`VerificationError`: a JWS (``request``) with an allowed ``alg`` (``algorithm``), header
    ``typ`` = ``typ`` and no ``crit`` (``request``); an RP certificate signed by the trusted issuer and
    currently valid (``rp_certificate``); the signature under the certificate's key
    (``request_signature``); ``iat``/``exp`` current within ``leeway`` (``request``). Returns the
    (now authenticated) claims and the certificate.
    """
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
    if not isinstance(cert_token, str):
        raise VerificationError("rp_certificate", "request carries no RP certificate")
    cert = parse_rp_certificate(cert_token, issuer_jwks, now, leeway=leeway)
    try:
        rp_key: VerifyingKey = load_public_jwk(cert.request_jwk)
    except NetIDError as exc:  # pragma: no cover - parse_rp_certificate already loaded it
        raise VerificationError("rp_certificate", "unusable request key") from exc
    if not verify_jws_signature(signing_input, signature, alg, rp_key):
        raise VerificationError("request_signature", "request not signed by the RP's registered key")
    exp, iat = claims.get("exp"), claims.get("iat")
    if type(exp) is not int or type(iat) is not int or now > exp + leeway or iat > now + leeway:
        raise VerificationError("request", "request object expired or not yet valid")
    return claims, cert


def open_request(
    request: str,
    *,
    issuer_jwks: Mapping[str, Any] | IssuerTrust,
    now: int,
    fetch: Callable[[str], str] | None = None,
    leeway: int = 60,
) -> PresentationRequest:
    """The wallet's check of a scanned request (URI or request object JWT).

    In order, raising :class:`VerificationError` with the code in brackets:

    1. the request is a signed request object (``request``), of ``typ`` ``oauth-authz-req+jwt`` and an
       allowed ``alg`` (``request``/``algorithm``);
    2. its ``jwt`` header holds an RP certificate signed by the issuer and currently valid
       (``rp_certificate``);
    3. the request is signed by the certificate's key (``request_signature``) and is current (``request``);
    4. ``client_id`` is the certificate's, and equals the URI's ``client_id`` if any (``client_id``);
    5. ``response_mode``/``response_type`` are ``direct_post``/``vp_token`` (``request``);
    6. ``response_uri`` is one of the certificate's (``response_uri``);
    7. the purpose is one of the certificate's (``purpose``);
    8. the DCQL query is a NetID query (``request``) whose every predicate the certificate allows
       (``rp_scope``).
    """
    token, uri_client_id = request_object_from_uri(request, fetch=fetch)
    claims, cert = open_rp_signed_object(
        token, typ=REQUEST_TYP, issuer_jwks=issuer_jwks, now=now, leeway=leeway
    )
    if claims.get("client_id") != cert.client_id or (
        uri_client_id is not None and uri_client_id != cert.client_id
    ):
        raise VerificationError("client_id", "client_id does not match the RP certificate")
    if claims.get("response_type") != "vp_token" or claims.get("response_mode") != "direct_post":
        raise VerificationError("request", "unsupported response_type or response_mode")
    if claims.get("response_uri") not in cert.response_uris:
        raise VerificationError("response_uri", "response_uri is not one of the RP's registered URIs")
    try:
        opened = _request_from_claims(token, claims, cert)
    except ParseError as exc:
        raise VerificationError("request", f"malformed request: {exc.reason}") from exc
    if opened.purpose not in cert.purposes:
        raise VerificationError("purpose", "purpose is not registered in the RP certificate")
    for pred in opened.predicates:
        if not cert.allows(pred):
            raise VerificationError("rp_scope", f"the RP is not allowed to ask {pred.name!r}")
    return opened
