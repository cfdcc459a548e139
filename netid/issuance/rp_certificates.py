"""Issuing RP access certificates (the issuer's RP registry calls this; ``specs/protocol.md`` §4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netid.credentials.jose import PRIVATE_JWK_MEMBERS, load_public_jwk, sign_jws
from netid.errors import ParseError, UsageError
from netid.issuance.profile import IssuerProfile
from netid.issuance.status_lists import status_claim
from netid.oid4vp.certificate import KNOWN_SCOPES, RP_CERT_TYP, response_uri_allowed
from netid.oid4vp.dcql import age_threshold

__all__ = ["RpRegistration", "issue_rp_certificate"]


@dataclass(frozen=True, slots=True)
class RpRegistration:
    """What the issuer records about a relying party and certifies to wallets.

    ``allowed_predicates`` are scope names (``age_over`` or ``age_over_NN``, ``doc_valid``,
    ``name_equals``, ``id_number_equals``, ``region_in``, ``subject``, ``netno``); ``request_jwk`` is the
    RP's request-signing public key. ``response_uris`` are ``https`` URLs; ``allow_loopback_http=True``
    is an explicit development mode that also admits ``http`` to a loopback host (``127.0.0.1``,
    ``::1``, ``localhost``) — wallets refuse those unless they are in development mode too.

    ``processor``, ``contact`` and ``retention`` are what China's PIPL Art. 17 requires an app to tell a
    person before processing — the personal-information processor's name and contact, and how long it
    keeps what it learns (e.g. ``"30 days"``); the purposes are ``purposes``. Optional; the certificate
    carries each one given, so the wallet can show it at consent.
    """

    rp_id: str
    name: str
    sector: str
    allowed_predicates: Sequence[str]
    purposes: Sequence[str]
    response_uris: Sequence[str]
    request_jwk: Mapping[str, Any] = field(repr=False)
    allow_loopback_http: bool = False
    processor: str | None = None
    contact: str | None = None
    retention: str | None = None

    def __post_init__(self) -> None:
        for name in ("allowed_predicates", "purposes", "response_uris"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise UsageError(f"{name} is a list of strings, not one string")
            object.__setattr__(self, name, tuple(value))
        if not self.rp_id or not self.name or not self.sector or not self.purposes or not self.response_uris:
            raise UsageError("rp_id, name, sector, purposes and response_uris are required")
        for name in ("processor", "contact", "retention"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise UsageError(f"{name} must be a non-empty string when given")
        for scope in self.allowed_predicates:
            base = "age_over" if age_threshold(scope) is not None else scope
            if base not in KNOWN_SCOPES:
                raise UsageError(f"unknown predicate scope {scope!r}")
        for uri in self.response_uris:
            if not response_uri_allowed(uri, allow_loopback_http=self.allow_loopback_http):
                raise UsageError(
                    "response_uris must be https URLs without user info or fragment (http only to a "
                    "loopback host, with allow_loopback_http=True, for development)"
                )
        if not PRIVATE_JWK_MEMBERS.isdisjoint(self.request_jwk):
            raise UsageError("request_jwk must be a public key")
        try:
            load_public_jwk(self.request_jwk)  # refuses unsupported keys now rather than at every wallet
        except ParseError as exc:
            raise UsageError(f"request_jwk is not a usable key: {exc.reason}") from exc


def issue_rp_certificate(
    profile: IssuerProfile,
    registration: RpRegistration,
    *,
    now: int,
    status: tuple[str, int] | None = None,
) -> str:
    """Sign an RP access certificate for ``registration`` with the issuer's RP-certificate key.

    ``status = (uri, idx)`` adds a ``status`` claim (Token Status List entry) so wallets can refuse a
    revoked RP before its certificate expires. The certificate names the ``age_thresholds`` the issuer
    mints (its netcert policy), so an RP's request builder can refuse any other; an ``age_over_NN``
    scope must be one of them (:class:`UsageError` otherwise).
    """
    if type(now) is not int:
        raise UsageError("now must be an int of Unix seconds")
    thresholds = sorted(profile.netcert_policy.age_thresholds)
    for scope in registration.allowed_predicates:
        threshold = age_threshold(scope)
        if threshold is not None and threshold not in thresholds:
            raise UsageError(
                f"{scope!r} is not a threshold this issuer mints: {', '.join(map(str, thresholds))}"
            )
    key = profile.keys.rp_certificate
    claims: dict[str, Any] = {
        "iss": profile.issuer,
        "sub": registration.rp_id,
        "name": registration.name,
        "sector": registration.sector,
        "allowed_predicates": list(registration.allowed_predicates),
        "purposes": list(registration.purposes),
        "response_uris": list(registration.response_uris),
        "age_thresholds": thresholds,
        "cnf": {"jwk": dict(registration.request_jwk)},
        "iat": now,
        "exp": now + profile.rp_certificate_validity,
    }
    for name in ("processor", "contact", "retention"):  # PIPL Art. 17 notice, when registered
        if getattr(registration, name) is not None:
            claims[name] = getattr(registration, name)
    if status is not None:
        claims["status"] = status_claim(*status)
    return sign_jws(claims, key.signer, typ=RP_CERT_TYP, kid=key.kid)
