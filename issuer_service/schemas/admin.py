"""Admin API bodies: the RP registry, key rotation, lawful disclosure, the audit log.

Responses are built field by field from service results (``services/registry.py``,
``services/disclosure.py``, ``services/audit.py``), never from table rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from issuer_service.services.disclosure import CASE_REF_LIMIT, REASON_LIMIT
from issuer_service.services.registry import LIST_LIMIT, PURPOSE_LIMIT, RP_ID_PATTERN, TEXT_LIMITS
from issuer_service.services.registry import REASON_LIMIT as RP_REASON_LIMIT

__all__ = [
    "AuditEntryResponse",
    "AuditListResponse",
    "AuditVerifyResponse",
    "CredentialLogResponse",
    "DeviceLogResponse",
    "DisclosureApprovalResponse",
    "DisclosureCreateRequest",
    "DisclosureDecisionRequest",
    "DisclosureListResponse",
    "DisclosureResponse",
    "KeyRotationResponse",
    "RpListResponse",
    "RpRegistrationRequest",
    "RpResponse",
    "RpStateChangeRequest",
    "RpUpdateRequest",
]


class _Strict(BaseModel):
    """Unknown members are refused, bodies are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_LIMITS["name"])]
Sector = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_LIMITS["sector"])]
Processor = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_LIMITS["processor"])]
Contact = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_LIMITS["contact"])]
Retention = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_LIMITS["retention"])]
Purpose = Annotated[str, StringConstraints(min_length=1, max_length=PURPOSE_LIMIT)]
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=64)]
RpReason = Annotated[str, StringConstraints(min_length=1, max_length=RP_REASON_LIMIT)]
CaseRef = Annotated[str, StringConstraints(min_length=1, max_length=CASE_REF_LIMIT)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=REASON_LIMIT)]

_RP_FIELDS: dict[str, str] = {
    "name": "Display name shown to the holder",
    "sector": "Pairwise-subject sector (RPs of one sector see the same subject for a person); never changes",
    "allowed_predicates": "Scope names the RP may ask: age_over or age_over_NN, doc_valid, name_equals, "
    "id_number_equals, region_in, subject, netno (netno needs netno_allowed)",
    "purposes": "Why the RP asks, in words shown to the holder at consent (PIPL Art. 17)",
    "response_uris": "The only URIs responses may be posted to: https (http to loopback only in dev_mode)",
    "request_jwk": "The RP's request-signing PUBLIC key (OKP Ed25519 or EC P-256); private members refused",
    "processor": "Legal name of the personal-information processor (PIPL Art. 17)",
    "contact": "How the holder reaches the processor (PIPL Art. 17)",
    "retention": "How long the RP keeps what it learns, e.g. '30 days' (PIPL Art. 17)",
    "netno_allowed": "Authorised for the global network number (real-name registration, by law)",
}


class RpRegistrationRequest(_Strict):
    """Register a relying party; the response carries its signed access certificate."""

    rp_id: str = Field(
        pattern=RP_ID_PATTERN,
        description="The RP id; its OpenID4VP client_id is verifier_attestation:<rp_id>",
    )
    name: Name = Field(description=_RP_FIELDS["name"])
    sector: Sector = Field(description=_RP_FIELDS["sector"])
    allowed_predicates: list[Scope] = Field(
        max_length=LIST_LIMIT, description=_RP_FIELDS["allowed_predicates"]
    )
    purposes: list[Purpose] = Field(min_length=1, max_length=LIST_LIMIT, description=_RP_FIELDS["purposes"])
    response_uris: list[Uri] = Field(
        min_length=1, max_length=LIST_LIMIT, description=_RP_FIELDS["response_uris"]
    )
    request_jwk: dict[str, Any] = Field(description=_RP_FIELDS["request_jwk"])
    processor: Processor = Field(description=_RP_FIELDS["processor"])
    contact: Contact = Field(description=_RP_FIELDS["contact"])
    retention: Retention = Field(description=_RP_FIELDS["retention"])
    netno_allowed: bool = Field(default=False, description=_RP_FIELDS["netno_allowed"])


class RpUpdateRequest(_Strict):
    """Change some of an RP's members; a new certificate is issued (an empty body renews it). The RP id
    and the sector never change: every pairwise subject depends on the sector."""

    name: Name | None = Field(default=None, description=_RP_FIELDS["name"])
    allowed_predicates: list[Scope] | None = Field(
        default=None, max_length=LIST_LIMIT, description=_RP_FIELDS["allowed_predicates"]
    )
    purposes: list[Purpose] | None = Field(
        default=None, min_length=1, max_length=LIST_LIMIT, description=_RP_FIELDS["purposes"]
    )
    response_uris: list[Uri] | None = Field(
        default=None, min_length=1, max_length=LIST_LIMIT, description=_RP_FIELDS["response_uris"]
    )
    request_jwk: dict[str, Any] | None = Field(default=None, description=_RP_FIELDS["request_jwk"])
    processor: Processor | None = Field(default=None, description=_RP_FIELDS["processor"])
    contact: Contact | None = Field(default=None, description=_RP_FIELDS["contact"])
    retention: Retention | None = Field(default=None, description=_RP_FIELDS["retention"])
    netno_allowed: bool | None = Field(default=None, description=_RP_FIELDS["netno_allowed"])


class RpStateChangeRequest(_Strict):
    reason: RpReason | None = Field(
        default=None, description="Why, for the audit log (about the RP; no personal data)"
    )


class StatusReference(_Strict):
    uri: str = Field(description="The RP status list the certificate's status entry is in")
    idx: int = Field(description="The entry's index")


class RpResponse(_Strict):
    rp_id: str
    name: str
    sector: str
    allowed_predicates: list[str]
    purposes: list[str]
    response_uris: list[str]
    request_jwk: dict[str, Any]
    processor: str
    contact: str
    retention: str
    netno_allowed: bool
    state: Literal["active", "suspended", "revoked"] = Field(description="revoked is final")
    status: StatusReference
    certificate: str = Field(
        description="The RP access certificate (a verifier-attestation+jwt), to give the RP"
    )
    certificate_exp: int = Field(description="Unix seconds when the certificate expires")
    created_at: int
    updated_at: int


class RpListResponse(_Strict):
    rps: list[RpResponse]


class KeyRotationResponse(_Strict):
    purpose: str
    kid: str = Field(description="The key that signs from now on")
    retired: list[str] = Field(description="The keys it replaced (still published until publish_until)")
    publish_until: int = Field(description="Unix seconds until which the retired keys stay in the JWKS")


class DisclosureCreateRequest(_Strict):
    netno: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="The network number whose identity an authority asks for"
    )
    case_ref: CaseRef = Field(description="The authority's case reference (recorded in the audit log)")
    reason: Reason = Field(
        description="The legal basis and reason (stored with the request; the audit log keeps its SHA-256)"
    )


class DisclosureDecisionRequest(_Strict):
    reason: Reason | None = Field(
        default=None, description="Why it was rejected (the audit log keeps its SHA-256)"
    )


class DisclosureResponse(_Strict):
    id: str
    netno: str
    case_ref: str
    reason: str
    state: Literal["pending", "disclosed", "rejected"]
    requested_by: str = Field(description="The requesting administrator's name")
    requested_at: int
    decided_by: str | None = Field(description="Who approved (disclosed) or rejected it")
    decided_at: int | None


class DisclosureListResponse(_Strict):
    disclosures: list[DisclosureResponse]


class CredentialLogResponse(_Strict):
    configuration_id: str
    rp_id: str | None
    iat: int
    exp: int
    status: str = Field(description="valid, revoked or suspended")


class DeviceLogResponse(_Strict):
    created_at: int
    revoked_at: int | None
    credentials: list[CredentialLogResponse]


class DisclosedPerson(_Strict):
    full_name: str
    personal_number: str
    date_of_birth: dt.date


class DisclosureApprovalResponse(_Strict):
    """The minimum an authority is given, once: the identity and the issuance log."""

    request: DisclosureResponse
    person: DisclosedPerson
    devices: list[DeviceLogResponse] = Field(description="Devices, oldest first, each with its credentials")


class AuditEntryResponse(_Strict):
    seq: int
    at: int
    actor: str
    action: str
    subject: str | None
    details: dict[str, Any]
    hash: str


class AuditListResponse(_Strict):
    entries: list[AuditEntryResponse]


class ChainHead(_Strict):
    seq: int
    hash: str


class ChainBreakResponse(_Strict):
    seq: int
    reason: str


class AuditVerifyResponse(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    ok: bool
    head: ChainHead | None = Field(
        default=None, description="The newest entry: record it elsewhere to detect a later cut at the end"
    )
    break_: ChainBreakResponse | None = Field(
        default=None, alias="break", description="Where the chain stops holding (absent when ok)"
    )
