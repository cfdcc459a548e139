"""The RP access certificate: who a relying party is and what it may ask (``specs/protocol.md`` §4).

The issuer signs a JWT stating who the RP is and what it may ask: ``sub`` (the RP id), ``name``,
``sector``, ``allowed_predicates``, ``purposes``, ``response_uris`` and ``cnf.jwk`` (the RP's
request-signing public key). This is the NetID profile of OpenID4VP's *verifier attestation* (§5.9.3):
the ``client_id`` is ``verifier_attestation:<rp id>``, and the certificate travels in the request object's
``jwt`` JOSE header, so a wallet needs nothing but the request and the issuer's JWKS to authenticate the
RP. The issuer mints certificates with :func:`netid.issuance.rp_certificates.issue_rp_certificate`; the
wallet checks them with :func:`parse_rp_certificate`.
"""

from __future__ import annotations

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
    "RP_CERT_TYP",
    "RpCertificate",
    "parse_rp_certificate",
    "rp_certificate_unverified",
    "status_reference",
]

RP_CERT_TYP: Final = "netid-rp+jwt"
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

    @property
    def client_id(self) -> str:
        """The OpenID4VP ``client_id`` this certificate authenticates."""
        return CLIENT_ID_PREFIX + self.rp_id

    def allows(self, predicate: Predicate) -> bool:
        return scope_allows(self.allowed_predicates, predicate)


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
