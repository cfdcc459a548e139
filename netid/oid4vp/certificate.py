"""The RP access certificate: who a relying party is and what it may ask (``specs/protocol.md`` §4).

The issuer signs a JWT stating who the RP is and what it may ask: ``sub`` (the RP id), ``name``,
``sector``, ``allowed_predicates``, ``purposes``, ``response_uris``, the ``age_thresholds`` the issuer
mints and ``cnf.jwk`` (the RP's request-signing public key). It is an OpenID4VP 1.0 *Verifier Attestation
JWT* (§12, ``typ`` ``verifier-attestation+jwt``) carrying NetID's profile in its claims: the
``client_id`` is ``verifier_attestation:<rp id>``, and the certificate travels in the request object's
``jwt`` JOSE header, so a wallet needs nothing but the request and the issuer's JWKS to authenticate the
RP. The issuer mints certificates with :func:`netid.issuance.rp_certificates.issue_rp_certificate`; the
wallet checks them with :func:`parse_rp_certificate`.

Response URIs are ``https`` (:func:`response_uri_allowed`); ``http`` only to a loopback host, and only
where a development mode says so explicitly (the issuer's ``RpRegistration(allow_loopback_http=True)``,
the wallet's ``Wallet(allow_loopback_http=True)``). A registered entry ending in ``/`` (without a query)
is a *prefix*: it admits exactly one further path segment of 22-128 base64url characters, so an RP can
bind each transaction's response URI to the transaction (``…/netid/response/<transaction id>``) without
registering every one (:meth:`RpCertificate.response_uri_allowed`).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from netid.credentials.jose import check_algorithm, decode_jws_unverified, load_public_jwk, typ_matches
from netid.credentials.trust import IssuerTrust
from netid.errors import ParseError, UsageError, VerificationError
from netid.oid4vp.dcql import Predicate, scope_allows
from netid.policy import DEFAULT_POLICY, Policy

__all__ = [
    "CLIENT_ID_PREFIX",
    "KNOWN_SCOPES",
    "RESPONSE_URI_SEGMENT",
    "RP_CERT_TYP",
    "RpCertificate",
    "check_age_thresholds",
    "parse_rp_certificate",
    "response_uri_allowed",
    "rp_certificate_unverified",
    "status_reference",
]

#: OpenID4VP 1.0 §12: the ``typ`` of a Verifier Attestation JWT (NetID's profile is in its claims)
RP_CERT_TYP: Final = "verifier-attestation+jwt"
CLIENT_ID_PREFIX: Final = "verifier_attestation:"
#: the predicate scope names a certificate's ``allowed_predicates`` may list (``age_over_NN`` also)
KNOWN_SCOPES: Final = (
    "age_over",
    "doc_valid",
    "name_equals",
    "id_number_equals",
    "region_in",
    "subject",
    "netno",
)
#: host names besides loopback IP literals that development mode lets an ``http`` response URI name
_LOOPBACK_NAMES: Final = frozenset({"localhost"})
_MAX_URI_LENGTH: Final = 2048
_MAX_AGE_THRESHOLDS: Final = 16
#: the one path segment a prefix ``response_uris`` entry (ending in ``/``) admits: 22-128 base64url
#: characters, i.e. at least the 128 random bits of a transaction id (specs/protocol.md §4)
RESPONSE_URI_SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]{22,128}")


def response_uri_allowed(uri: object, *, allow_loopback_http: bool = False) -> bool:
    """Whether ``uri`` may receive responses: an absolute ``https`` URL with a host, no user info and no
    fragment (OpenID4VP 1.0 §8.2). ``http`` only with ``allow_loopback_http`` and to a loopback host
    (``127.0.0.0/8``, ``::1``, ``localhost``): an explicit development mode, never a default."""
    if type(uri) is not str or not 0 < len(uri) <= _MAX_URI_LENGTH or not uri.isascii():
        return False
    if not uri.isprintable() or " " in uri:
        return False
    try:
        parts = urllib.parse.urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    if not host or parts.fragment or "#" in uri or parts.username is not None or parts.password is not None:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and allow_loopback_http and _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_age_thresholds(value: object) -> tuple[int, ...]:
    """An ``age_thresholds`` claim: 1-16 distinct integers between 1 and 149, returned sorted.

    :class:`ParseError` otherwise.
    """
    if (
        type(value) is not list
        or not 0 < len(value) <= _MAX_AGE_THRESHOLDS
        or not all(type(t) is int and 0 < t < 150 for t in value)
        or len(set(value)) != len(value)
    ):
        raise ParseError("RP certificate", "'age_thresholds' must be distinct ages between 1 and 149")
    return tuple(sorted(value))


@dataclass(frozen=True, slots=True)
class RpCertificate:
    """A parsed RP access certificate (verified by :func:`parse_rp_certificate`)."""

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
    #: the ``age_over_NN`` thresholds the issuer mints, if the certificate names them (§4)
    age_thresholds: tuple[int, ...] | None = None
    #: PIPL Art. 17 notice, if the certificate carries it (§4): the personal-information processor's
    #: legal name, its contact, and how long it keeps what it learns
    processor: str | None = None
    contact: str | None = None
    retention: str | None = None

    @property
    def client_id(self) -> str:
        """The OpenID4VP ``client_id`` this certificate authenticates."""
        return CLIENT_ID_PREFIX + self.rp_id

    def allows(self, predicate: Predicate) -> bool:
        """Whether the certificate covers ``predicate`` (an age threshold must also be one the issuer
        mints, when the certificate names them)."""
        return self.allows_scope(predicate.name, predicate.scope)

    def allows_scope(self, name: str, scope: str) -> bool:
        """:meth:`allows` from a predicate's name and scope alone (the wallet's check before parsing)."""
        return scope_allows(self.allowed_predicates, name, scope, self.age_thresholds)

    def response_uri_registered(self, uri: object) -> bool:
        """Whether ``uri`` is one of :attr:`response_uris`: a *prefix* entry (ending in ``/``, holding no
        ``?``) followed by exactly one path segment of 22-128 base64url characters — no further ``/``, no
        query, no fragment, no percent-encoding — or equal to any other (*exact*) entry
        (specs/protocol.md §4). A prefix entry does not admit itself."""
        if type(uri) is not str:
            return False
        for entry in self.response_uris:
            if entry.endswith("/") and "?" not in entry:
                if uri.startswith(entry) and RESPONSE_URI_SEGMENT.fullmatch(uri, len(entry)) is not None:
                    return True
            elif uri == entry:
                return True
        return False

    def response_uri_allowed(self, uri: object, *, allow_loopback_http: bool = False) -> bool:
        """Whether a wallet may post a response to ``uri``: registered (:meth:`response_uri_registered`)
        and of an allowed form (module-level :func:`response_uri_allowed`: ``https``; ``http`` to a
        loopback host only with ``allow_loopback_http``)."""
        return self.response_uri_registered(uri) and response_uri_allowed(
            uri, allow_loopback_http=allow_loopback_http
        )


def status_reference(payload: Mapping[str, Any]) -> tuple[str, int] | None:
    """The ``status.status_list`` reference ``(uri, idx)`` of a token payload; ``None`` if absent.

    :class:`ParseError` if present but malformed.
    """
    if "status" not in payload:
        return None
    status = payload["status"]
    ref = status.get("status_list") if type(status) is dict else None
    uri = ref.get("uri") if type(ref) is dict else None
    idx = ref.get("idx") if type(ref) is dict else None
    if type(uri) is not str or not uri or type(idx) is not int or idx < 0:
        raise ParseError("status reference", "malformed status reference")
    return uri, idx


def _optional_str(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if type(value) is not str or not value:
        raise ParseError("RP certificate", f"'{name}' must be a non-empty string")
    return value


def _str_list(payload: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = payload.get(name)
    if type(value) is not list or not all(type(v) is str for v in value):
        raise VerificationError("rp_certificate", f"'{name}' must be an array of strings")
    return tuple(value)


def parse_rp_certificate(
    token: str, trust: IssuerTrust, now: int, *, policy: Policy = DEFAULT_POLICY
) -> RpCertificate:
    """Verify an RP access certificate against the issuer's keys and return it.

    Raises :class:`VerificationError` ``rp_certificate`` for every failure (malformed, bad signature,
    unknown key or one not published for RP certificates, wrong ``typ``, expired), or ``algorithm`` for
    a disallowed ``alg``.
    """
    try:
        header, payload, signing_input, signature = decode_jws_unverified(token)
    except ParseError as exc:
        raise VerificationError("rp_certificate", "RP certificate is not a JWS") from exc
    alg = check_algorithm(header.get("alg"))
    if not typ_matches(header.get("typ"), RP_CERT_TYP) or "crit" in header:
        # NetID defines no critical header parameters; an unknown one must not be ignored (RFC 7515)
        raise VerificationError("rp_certificate", "wrong typ for an RP certificate")
    try:
        key = trust.key_for(header, payload, purpose="rp_certificate")
    except VerificationError as exc:
        raise VerificationError(
            "rp_certificate", "RP certificate not signed by a trusted issuer key"
        ) from exc
    if not key.alg == alg or not key.verify(signing_input, signature):
        raise VerificationError("rp_certificate", "RP certificate signature is invalid")
    iat, exp = payload.get("iat"), payload.get("exp")
    if type(iat) is not int or type(exp) is not int:
        raise VerificationError("rp_certificate", "iat/exp missing")
    if now > exp + policy.leeway:
        raise VerificationError("rp_certificate", "RP certificate has expired")
    if iat > now + policy.leeway:
        raise VerificationError("rp_certificate", "RP certificate is not yet valid")
    try:
        return _certificate_from_claims(token, payload)
    except ParseError as exc:
        raise VerificationError("rp_certificate", f"RP certificate is malformed: {exc.reason}") from exc


def _certificate_from_claims(token: str, payload: Mapping[str, Any]) -> RpCertificate:
    strings = {}
    for name in ("iss", "sub", "name", "sector"):
        value = payload.get(name)
        if type(value) is not str or not value:
            raise ParseError("RP certificate", f"'{name}' missing")
        strings[name] = value
    cnf = payload.get("cnf")
    jwk = cnf.get("jwk") if type(cnf) is dict else None
    if type(jwk) is not dict:
        raise ParseError("RP certificate", "cnf.jwk missing")
    load_public_jwk(jwk)  # ParseError if it is not a usable key
    iat, exp = payload.get("iat"), payload.get("exp")
    if type(iat) is not int or type(exp) is not int:
        raise ParseError("RP certificate", "iat/exp missing")
    thresholds = payload.get("age_thresholds")
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
        status=status_reference(payload),
        age_thresholds=None if thresholds is None else check_age_thresholds(thresholds),
        processor=_optional_str(payload, "processor"),
        contact=_optional_str(payload, "contact"),
        retention=_optional_str(payload, "retention"),
    )


def rp_certificate_unverified(token: str) -> RpCertificate:
    """Parse the RP's *own* certificate without the issuer key (the RP trusts what it was given).

    :class:`UsageError` if it is not an RP certificate: this is the RP's configuration, not input.
    """
    try:
        header, payload, _, _ = decode_jws_unverified(token)
    except ParseError as exc:
        raise UsageError("rp_certificate is not a JWS") from exc
    if not typ_matches(header.get("typ"), RP_CERT_TYP):
        raise UsageError("rp_certificate is not an RP certificate")
    try:
        return _certificate_from_claims(token, payload)
    except (ParseError, VerificationError) as exc:
        raise UsageError(f"rp_certificate lacks required claims: {exc}") from exc
