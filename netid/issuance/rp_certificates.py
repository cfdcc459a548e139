"""Issuing RP access certificates (the issuer's RP registry calls this; ``specs/protocol.md`` §4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netid.credentials.jose import PRIVATE_JWK_MEMBERS, load_public_jwk, sign_jws
from netid.errors import ParseError, UsageError
from netid.issuance.profile import IssuerProfile
from netid.issuance.status_lists import status_claim
from netid.oid4vp.certificate import KNOWN_SCOPES, RP_CERT_TYP

__all__ = ["RpRegistration", "issue_rp_certificate"]


@dataclass(frozen=True, slots=True)
class RpRegistration:
    """What the issuer records about a relying party and certifies to wallets.

    ``allowed_predicates`` are scope names (``age_over`` or ``age_over_NN``, ``doc_valid``,
    ``name_equals``, ``id_number_equals``, ``region_in``, ``subject``, ``netno``); ``request_jwk`` is the
    RP's request-signing public key.
    """

    rp_id: str
    name: str
    sector: str
    allowed_predicates: Sequence[str]
    purposes: Sequence[str]
    response_uris: Sequence[str]
    request_jwk: Mapping[str, Any] = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("allowed_predicates", "purposes", "response_uris"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise UsageError(f"{name} is a list of strings, not one string")
            object.__setattr__(self, name, tuple(value))
        if not self.rp_id or not self.name or not self.sector or not self.purposes or not self.response_uris:
            raise UsageError("rp_id, name, sector, purposes and response_uris are required")
        for scope in self.allowed_predicates:
            base = "age_over" if scope.startswith("age_over_") and scope[9:].isdigit() else scope
            if base not in KNOWN_SCOPES:
                raise UsageError(f"unknown predicate scope {scope!r}")
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
    revoked RP before its certificate expires.
    """
    if type(now) is not int:
        raise UsageError("now must be an int of Unix seconds")
    key = profile.keys.rp_certificate
    claims: dict[str, Any] = {
        "iss": profile.issuer,
        "sub": registration.rp_id,
        "name": registration.name,
        "sector": registration.sector,
        "allowed_predicates": list(registration.allowed_predicates),
        "purposes": list(registration.purposes),
        "response_uris": list(registration.response_uris),
        "cnf": {"jwk": dict(registration.request_jwk)},
        "iat": now,
        "exp": now + profile.rp_certificate_validity,
    }
    if status is not None:
        claims["status"] = status_claim(*status)
    return sign_jws(claims, key.signer, typ=RP_CERT_TYP, kid=key.kid)
