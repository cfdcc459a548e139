"""Enrollment: a one-time challenge, then sealed card evidence → checks → network number → credential offer.

``specs/enrollment.md`` is the normative description; the checks of :func:`complete_enrollment` run in
the order given there, and the first that fails refuses with its code (an :class:`EnrollmentRefused`,
whose code is a key of :data:`issuer_service.core.problems.PROBLEM_TYPES`). Everything happens in the
caller's one transaction: a refused enrollment writes nothing, a completed one writes the person (if
new), the device, the pre-authorized code, the enrollment's completion and the audit entry together.

Pure service functions over a session and the process context; no FastAPI imports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.db.tables import Device, Enrollment, Person, PreAuthorizedCode
from issuer_service.db.times import unix, utc
from issuer_service.keys.store import KeyStoreError
from issuer_service.services.audit import append_audit
from issuer_service.services.persons import (
    AttributesUnavailable,
    decrypt_attributes,
    find_by_netno,
    get_or_create_person,
)
from netid.card.icao.verify_document import verify_document
from netid.credentials.jose import b64url_encode, jwk_thumbprint
from netid.credentials.jwe import jwe_header
from netid.credentials.netno import parse_netno
from netid.errors import (
    ActiveAuthenticationError,
    IssuanceError,
    NetnoError,
    ParseError,
    PassiveAuthenticationError,
    UsageError,
)
from netid.issuance import IdentityAttributes
from netid.oid4vci.evidence import EnrollmentEvidence, open_evidence
from netid.oid4vci.offer import CONFIGURATION_IDS, CredentialOffer
from netid.personal_number import age_on

__all__ = [
    "ADULT_AGE",
    "CHALLENGE_BYTES",
    "CompletedEnrollment",
    "EnrollmentRefused",
    "StartedEnrollment",
    "VerifiedEvidence",
    "complete_enrollment",
    "derive_pre_authorized_code",
    "evidence_digest",
    "lock_enrollment",
    "start_enrollment",
    "today",
    "token_hash",
    "verify_evidence",
]

#: ICAO 9303-11 active authentication signs an 8-byte challenge
CHALLENGE_BYTES = 8
#: a guardian must be at least this old
ADULT_AGE: Final = 18


class EnrollmentRefused(IssuanceError):  # noqa: N818 - a refusal with its reason, not a fault
    """An enrollment check failed. ``detail`` is the human message, ``extra`` the problem document's
    additional members (``check``, ``data_group`` for passive authentication) — never personal data."""

    def __init__(self, code: str, detail: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(code, detail)
        self.detail = detail
        self.extra = dict(extra or {})


def today(context: IssuerContext) -> dt.date:
    """The calendar date policies are evaluated on: the UTC date of the issuer's clock."""
    return utc(context.clock()).date()


def token_hash(value: str) -> str:
    """How every bearer secret (codes, tokens, nonces) is stored: SHA-256, hex."""
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def derive_pre_authorized_code(context: IssuerContext, enrollment_id: str) -> str:
    """The enrollment's pre-authorized code: ``HMAC-SHA256(codes key, enrollment id)``, base64url.

    Deterministic, so a retried ``complete`` answers with the same offer although only the code's hash
    is stored.
    """
    key = context.keystore.secret("codes")
    mac = hmac.new(key, b"netid pre-authorized code\x00" + enrollment_id.encode(), hashlib.sha256)
    return b64url_encode(mac.digest())


# --- start ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartedEnrollment:
    enrollment_id: str
    challenge: bytes
    expires_at: int
    enrollment_key: dict[str, Any]


def start_enrollment(session: Session, context: IssuerContext) -> StartedEnrollment:
    """Create a pending enrollment with a fresh challenge; hand out the current enrollment key."""
    now = context.clock()
    ring = context.keys.ring()
    enrollment = Enrollment(
        id=b64url_encode(context.rng(18)),
        challenge=context.rng(CHALLENGE_BYTES),
        created_at=utc(now),
        expires_at=utc(now + context.settings.enrollment_ttl),
        state="pending",
    )
    session.add(enrollment)
    return StartedEnrollment(
        enrollment_id=enrollment.id,
        challenge=enrollment.challenge,
        expires_at=now + context.settings.enrollment_ttl,
        enrollment_key=dict(ring.enrollment_jwk),
    )


# --- the checks -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedEvidence:
    """Evidence that passed every card check, and the attributes it proves (``repr`` hides them)."""

    evidence: EnrollmentEvidence
    attributes: IdentityAttributes = field(repr=False)
    evidence_hash: str


def lock_enrollment(session: Session, enrollment_id: str) -> Enrollment | None:
    """The enrollment row, locked until the transaction ends (``SELECT … FOR UPDATE`` on PostgreSQL;
    SQLite transactions hold the database's write lock from their start)."""
    return session.scalars(select(Enrollment).where(Enrollment.id == enrollment_id).with_for_update()).first()


def _open(context: IssuerContext, sealed: str) -> EnrollmentEvidence:
    try:
        kid = jwe_header(sealed).get("kid")
        if not isinstance(kid, str) or not kid.startswith("enrollment-") or len(kid) > 64:
            raise ParseError("enrollment evidence", "the JWE names no enrollment key")
        key = context.keystore.enrollment_key(kid)
        return open_evidence(sealed, key)
    except KeyStoreError:
        raise EnrollmentRefused("evidence_malformed", "the evidence is sealed to an unknown key") from None
    except ParseError as exc:
        # ParseError says where the input broke (what, reason), never what it held
        raise EnrollmentRefused("evidence_malformed", f"{exc.what}: {exc.reason}") from None


def verify_evidence(
    context: IssuerContext, enrollment: Enrollment, sealed: str, *, check_expiry: bool = True
) -> VerifiedEvidence:
    """Steps 4-9 of ``specs/enrollment.md``: open the evidence, check it belongs to ``enrollment``, then
    passive authentication, active authentication over exactly the stored challenge, document validity
    (unless ``check_expiry`` is off: revocation by card accepts an expired card) and a usable personal
    number. Raises :class:`EnrollmentRefused`."""
    evidence = _open(context, sealed)
    if not hmac.compare_digest(evidence.enrollment_id.encode(), enrollment.id.encode()):
        raise EnrollmentRefused("evidence_malformed", "the evidence is for another enrollment")
    now = utc(context.clock())
    challenge = bytes(enrollment.challenge)
    try:
        verified = verify_document(
            evidence.to_readout(challenge),
            context.trust_store,
            challenge=challenge,
            at=now,
            require_active_authentication=True,
        )
    except PassiveAuthenticationError as exc:
        extra = {"check": exc.check} | ({"data_group": exc.data_group} if exc.data_group else {})
        raise EnrollmentRefused(
            "passive_authentication", f"passive authentication failed ({exc.check})", extra=extra
        ) from None
    except ActiveAuthenticationError:
        raise EnrollmentRefused(
            "active_authentication", "the chip did not sign this enrollment's challenge"
        ) from None
    document = verified.document
    if check_expiry and document.date_of_expiry < now.date():
        raise EnrollmentRefused("document_expired", "the ID card has expired: enroll with the renewed card")
    if document.personal_number is None:
        raise EnrollmentRefused("evidence_malformed", "the card's data carries no personal number")
    try:
        attributes = IdentityAttributes(
            full_name=document.full_name,
            personal_number=document.personal_number,
            date_of_birth=document.date_of_birth,
            document_expiry=document.date_of_expiry,
            chip_auth=verified.chip_auth,
            enrollment_factors=("nfc_chip",),
        )
    except UsageError:
        raise EnrollmentRefused(
            "evidence_malformed", "the card's personal number or name is not usable"
        ) from None
    return VerifiedEvidence(evidence, attributes, evidence_digest(sealed))


def evidence_digest(sealed: str) -> str:
    """SHA-256 (hex) of the sealed evidence exactly as received: what a retry must repeat."""
    return hashlib.sha256(sealed.encode("utf-8")).hexdigest()


def _guardian(
    session: Session, context: IssuerContext, attrs: IdentityAttributes, netno: str | None
) -> Person:
    """Step 10: the guardian a person below the self-enrollment age names — an enrolled adult."""
    refused = EnrollmentRefused(
        "guardian_required",
        f"below the age of {context.settings.min_self_enroll_age} a guardian's network number is required",
    )
    if netno is None:
        raise refused
    try:
        canonical = parse_netno(netno)
    except NetnoError:
        raise refused from None
    guardian = find_by_netno(session, canonical)
    if guardian is None:
        raise refused
    try:
        guardian_attrs = decrypt_attributes(guardian, context)
    except AttributesUnavailable:
        raise refused from None
    if guardian_attrs.personal_number == attrs.personal_number or (
        age_on(guardian_attrs.date_of_birth, today(context)) < ADULT_AGE
    ):
        raise refused
    return guardian


def _device_key_free(session: Session, person: Person, thumbprint: str) -> None:
    """Step 12: a device key belongs to one person's wallet (it alone authorises revoking that device)."""
    query = select(Device.id).where(Device.key_thumbprint == thumbprint, Device.person_id != person.id)
    if session.scalars(query.limit(1)).first() is not None:
        raise EnrollmentRefused("conflict", "this device key is enrolled for another person: use a new one")


# --- complete -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompletedEnrollment:
    netno: str
    offer: CredentialOffer
    #: this was a retry of a completed enrollment with the same evidence: nothing was written
    replayed: bool


def _offer(context: IssuerContext, enrollment_id: str) -> CredentialOffer:
    return CredentialOffer(
        context.settings.credential_issuer,
        CONFIGURATION_IDS,
        derive_pre_authorized_code(context, enrollment_id),
    )


def _replay(
    session: Session, context: IssuerContext, enrollment: Enrollment, evidence_hash: str
) -> CompletedEnrollment:
    """Step 3: a completed enrollment answers a retry with the same evidence bytes with the same result
    (until its offer expires), and refuses any other evidence."""
    same = enrollment.evidence_hash is not None and hmac.compare_digest(
        enrollment.evidence_hash, evidence_hash
    )
    if not same or enrollment.state != "completed" or enrollment.person_id is None:
        raise EnrollmentRefused(
            "enrollment_used", "this enrollment was already completed with other evidence"
        )
    completed = unix(enrollment.completed_at) if enrollment.completed_at else 0
    if context.clock() >= completed + context.settings.offer_ttl:
        raise EnrollmentRefused("enrollment_unknown", "no such enrollment, or it has expired")
    person = session.get(Person, enrollment.person_id)
    assert person is not None  # a foreign key
    return CompletedEnrollment(person.netno, _offer(context, enrollment.id), replayed=True)


def complete_enrollment(
    session: Session, context: IssuerContext, *, enrollment_id: str, sealed: str
) -> CompletedEnrollment:
    """Check the sealed evidence for ``enrollment_id`` and, if it passes, get or mint the person's netno
    and grant issuance (``specs/enrollment.md`` "Complete"). Raises :class:`EnrollmentRefused`."""
    now = context.clock()
    enrollment = lock_enrollment(session, enrollment_id)  # 2. exists (locked against a concurrent complete)
    if enrollment is None:
        raise EnrollmentRefused("enrollment_unknown", "no such enrollment, or it has expired")
    evidence_hash = evidence_digest(sealed)
    if enrollment.state != "pending":  # 3. single use; an identical retry gets the same answer
        return _replay(session, context, enrollment, evidence_hash)
    if now >= unix(enrollment.expires_at):
        raise EnrollmentRefused("enrollment_unknown", "no such enrollment, or it has expired")
    verified = verify_evidence(context, enrollment, sealed)  # 4-9
    attrs = verified.attributes
    guardian: Person | None = None
    if age_on(attrs.date_of_birth, today(context)) < context.settings.min_self_enroll_age:  # 10
        guardian = _guardian(session, context, attrs, verified.evidence.guardian_netno)

    device_key = dict(verified.evidence.device_key)
    thumbprint = jwk_thumbprint(device_key)
    # The person's row (found by its lookup hash and locked, or made) serves step 12 too: one lookup, not
    # two. A refusal there rolls the transaction back, a person made for it included: nothing is written.
    record = get_or_create_person(session, context, attrs, guardian_id=guardian.id if guardian else None)
    person = record.person
    _device_key_free(session, person, thumbprint)  # 12
    device = Device(
        id=context.rng(16).hex(), person_id=person.id, key_thumbprint=thumbprint, key_jwk=device_key,
        created_at=utc(now),
    )  # fmt: skip
    session.add(device)
    session.flush()
    offer = _offer(context, enrollment.id)
    session.add(
        PreAuthorizedCode(
            code_hash=token_hash(offer.pre_authorized_code),
            device_id=device.id,
            expires_at=utc(now + context.settings.offer_ttl),
        )
    )
    enrollment.state = "completed"
    enrollment.evidence_hash = evidence_hash
    enrollment.person_id = person.id
    enrollment.device_id = device.id
    enrollment.completed_at = utc(now)
    append_audit(
        session, at=now, actor="wallet", action="enrollment", subject=person.netno,
        details={
            "enrollment": enrollment.id, "device": device.id, "new_person": record.created,
            "attributes_updated": record.updated, "chip_auth": attrs.chip_auth,
            "guardian": guardian.netno if guardian else None,
        },
    )  # fmt: skip
    return CompletedEnrollment(person.netno, offer, replayed=False)
