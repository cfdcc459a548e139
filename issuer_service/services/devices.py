"""Device revocation (a lost phone): every credential of the device revoked in its status list, its
tokens ended, the act audited. ``specs/enrollment.md`` ("Device revocation") is normative.

Two ways to authorise it:

* **the device key** recorded at enrollment signs a request (:func:`revoke_by_device_key`): a compact
  JWS, ``typ: netid-revoke+jwt``, the public key in the ``jwk`` header, claims ``aud`` (the issuer),
  ``iat`` (within :data:`MAX_REQUEST_AGE` and the clock leeway) and ``jti`` (single use);
* **a fresh card read** (:func:`revoke_by_card`): an enrollment started and completed with sealed
  evidence that passes every card check of enrollment but the expiry date; every device of the person
  the card identifies is revoked. This is the path for a phone that is gone with its key.

No FastAPI imports.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.db.tables import Device, IssuedCredential, Nonce, Person
from issuer_service.db.times import unix, utc
from issuer_service.services.audit import append_audit
from issuer_service.services.enrollment import (
    EnrollmentRefused,
    evidence_digest,
    lock_enrollment,
    verify_evidence,
)
from issuer_service.services.issuance import revoke_device_tokens
from issuer_service.services.persons import find_by_lookup, lookup_hash
from issuer_service.services.status import status_changed
from netid.credentials.jose import (
    PRIVATE_JWK_MEMBERS,
    check_algorithm,
    decode_jws_unverified,
    jwk_thumbprint,
    load_public_jwk,
    typ_matches,
)
from netid.errors import ParseError, VerificationError
from netid.policy import DEFAULT_POLICY

__all__ = [
    "MAX_REQUEST_AGE",
    "REVOKE_TYP",
    "DeviceRevocationError",
    "Revocation",
    "revoke_by_card",
    "revoke_by_device_key",
    "revoke_devices",
]

REVOKE_TYP: Final = "netid-revoke+jwt"
#: how old a signed revocation request's ``iat`` may be (its ``jti`` is remembered that long)
MAX_REQUEST_AGE: Final = 300
_MAX_REQUEST: Final = 4096
_STATE_REVOKED_BY_CARD: Final = "revocation"


class DeviceRevocationError(Exception):
    """A revocation request was refused; ``code`` is a problem code (``invalid_request``,
    ``unauthorized``), ``detail`` the message (never personal data)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Revocation:
    """What a revocation did: the person's netno, the devices now revoked, the credentials whose
    status changed in this call."""

    netno: str
    devices: int
    credentials: int


def revoke_devices(
    session: Session, context: IssuerContext, devices: list[Device], *, reason: str, actor: str
) -> int:
    """Revoke ``devices`` (one person's): status 1 for each of their valid credentials (and a new
    version of every list touched), tokens and unredeemed codes ended, one audit entry. Idempotent.
    Returns how many credentials changed status."""
    now = context.clock()
    ids = [d.id for d in devices]
    for device in devices:
        if device.revoked_at is None:
            device.revoked_at = utc(now)
            device.revoked_reason = reason
        revoke_device_tokens(session, device.id, now)
    lists = list(
        session.scalars(
            select(IssuedCredential.list_id)
            .where(IssuedCredential.device_id.in_(ids), IssuedCredential.status == 0)
            .distinct()
        )
    )
    changed = 0
    if lists:
        result = session.execute(
            update(IssuedCredential)
            .where(IssuedCredential.device_id.in_(ids), IssuedCredential.status == 0)
            .values(status=1)
            .execution_options(synchronize_session=False)
        )
        changed = int(getattr(result, "rowcount", 0))
        for list_id in sorted(lists):
            status_changed(session, list_id)
    person = session.get(Person, devices[0].person_id) if devices else None
    append_audit(
        session, at=now, actor=actor, action="device_revoked", subject=person.netno if person else None,
        details={"devices": ids, "credentials": changed, "reason": reason},
    )  # fmt: skip
    return changed


# --- by the device key --------------------------------------------------------------------------------


def _refuse(detail: str) -> DeviceRevocationError:
    # one answer for every authentication failure: no oracle for which part was wrong
    return DeviceRevocationError("unauthorized", detail)


def revoke_by_device_key(session: Session, context: IssuerContext, request: str) -> Revocation:
    """Check a ``netid-revoke+jwt`` signed by a device key and revoke that device."""
    now = context.clock()
    if not isinstance(request, str) or len(request) > _MAX_REQUEST:
        raise DeviceRevocationError("invalid_request", "the revocation request is not a compact JWS")
    try:
        header, claims, signing_input, signature = decode_jws_unverified(request)
        alg = check_algorithm(header.get("alg"))
    except (ParseError, VerificationError):
        raise DeviceRevocationError("invalid_request", "the revocation request is not a usable JWS") from None
    jwk = header.get("jwk")
    if not typ_matches(header.get("typ"), REVOKE_TYP) or "crit" in header:
        raise DeviceRevocationError("invalid_request", f"the request's typ must be {REVOKE_TYP}")
    if not isinstance(jwk, dict) or not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
        raise DeviceRevocationError("invalid_request", "the request names its device key in a public 'jwk'")
    try:
        thumbprint = jwk_thumbprint(jwk)
    except ParseError:
        raise DeviceRevocationError("invalid_request", "the request's jwk is not a usable key") from None
    devices = list(
        session.scalars(select(Device).where(Device.key_thumbprint == thumbprint).order_by(Device.id))
    )
    if not devices:
        raise _refuse("no device is enrolled with this key")
    try:
        key = load_public_jwk(devices[0].key_jwk)
    except ParseError:  # pragma: no cover - checked when the device was enrolled
        raise _refuse("the device key is not usable") from None
    if key.alg != alg or not key.verify(signing_input, signature):
        raise _refuse("the signature does not verify under the device key")
    leeway = DEFAULT_POLICY.leeway
    iat, jti = claims.get("iat"), claims.get("jti")
    if claims.get("aud") != context.settings.issuer_url:
        raise _refuse("the request is for another issuer")
    if type(iat) is not int or not now - MAX_REQUEST_AGE - leeway <= iat <= now + leeway:
        raise _refuse("the request's iat is missing, in the future or too old")
    if not isinstance(jti, str) or not 16 <= len(jti) <= 128:
        raise _refuse("the request needs a jti of 16 to 128 characters")
    marker = hashlib.sha256(f"netid-revoke\x00{thumbprint}\x00{jti}".encode()).hexdigest()
    try:
        with session.begin_nested():
            session.add(
                Nonce(nonce_hash=marker, expires_at=utc(iat + MAX_REQUEST_AGE + leeway), used_at=utc(now))
            )
            session.flush()
    except IntegrityError:
        raise _refuse("this revocation request was already used") from None
    person_ids = {d.person_id for d in devices}
    if len(person_ids) != 1:  # pragma: no cover - one key belongs to one wallet, of one person
        raise _refuse("the device key is enrolled for more than one person")
    changed = revoke_devices(session, context, devices, reason="device_key", actor="device")
    person = session.get(Person, devices[0].person_id)
    assert person is not None
    return Revocation(person.netno, len(devices), changed)


# --- by a fresh card read -----------------------------------------------------------------------------


def _person_devices(session: Session, person_id: str) -> list[Device]:
    return list(session.scalars(select(Device).where(Device.person_id == person_id).order_by(Device.id)))


def _count_revoked(session: Session, person_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Device)
            .where(Device.person_id == person_id, Device.revoked_at.is_not(None))
        )
        or 0
    )


def revoke_by_card(
    session: Session, context: IssuerContext, *, enrollment_id: str, sealed: str
) -> Revocation:
    """Revoke every device of the person a fresh card read identifies (the enrollment's challenge, its
    evidence checked as at enrollment except the document's expiry). A retry with the same evidence
    bytes answers the same; the enrollment cannot be used for anything else."""
    now = context.clock()
    enrollment = lock_enrollment(session, enrollment_id)
    if enrollment is None:
        raise EnrollmentRefused("enrollment_unknown", "no such enrollment, or it has expired")
    digest = evidence_digest(sealed)
    if enrollment.state != "pending":
        same = enrollment.evidence_hash is not None and hmac.compare_digest(enrollment.evidence_hash, digest)
        if not same or enrollment.state != _STATE_REVOKED_BY_CARD or enrollment.person_id is None:
            raise EnrollmentRefused(
                "enrollment_used", "this enrollment was already completed with other evidence"
            )
        person = session.get(Person, enrollment.person_id)
        assert person is not None
        return Revocation(person.netno, _count_revoked(session, person.id), 0)
    if now >= unix(enrollment.expires_at):
        raise EnrollmentRefused("enrollment_unknown", "no such enrollment, or it has expired")
    verified = verify_evidence(context, enrollment, sealed, check_expiry=False)
    person = find_by_lookup(session, lookup_hash(context, verified.attributes.personal_number), lock=True)
    if person is None:
        raise EnrollmentRefused("not_found", "no one is enrolled with this card")
    devices = _person_devices(session, person.id)
    changed = revoke_devices(session, context, devices, reason="card", actor="card") if devices else 0
    enrollment.state = _STATE_REVOKED_BY_CARD
    enrollment.evidence_hash = digest
    enrollment.person_id = person.id
    enrollment.completed_at = utc(now)
    return Revocation(person.netno, _count_revoked(session, person.id), changed)
