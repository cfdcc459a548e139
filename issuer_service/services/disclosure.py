"""Lawful disclosure: the real identity behind a network number, for an authority, with two approvers.

The national rules let authorities obtain the identity behind a netno and its issuance log. Here that
takes two *different* administrators: one **requests** (netno, case reference, reason), another
**approves** — only then is anything decrypted and returned, once, in the approval's response. The same
administrator approving their own request is refused (``forbidden``); any administrator may **reject** a
pending request. At most ``Settings.disclosures_per_day`` requests are disclosed per rolling 24 hours
(``rate_limited``, with the time until the oldest one leaves the window).

**What is returned** is the minimum: full name, personal number, birth date, and the issuance log —
each device's creation and revocation times, and each credential's configuration, RP id, coarse
``iat``/``exp`` and status. Never a credential's content, the document expiry, a device key, or any
other person.

**What is recorded.** Every step — request, approval, rejection, and every refused approval — is an
entry in the hash-chained audit log (``disclosure.request``, ``disclosure.approve``, ``disclosure.reject``,
``disclosure.refuse``) with who (the administrator's name), why (the case reference; the free-text
reason only as its SHA-256, which binds the stored reason without copying it) and when; the subject is
the netno. No entry ever holds the disclosed data.

Each function runs its own transaction (``context.sessions``) instead of the request's: a refusal must
be committed to the audit log *and* answered with an error, which a request transaction that rolls back
on the error could not do. Approvals are serialised (PostgreSQL: an advisory lock; SQLite: the write
lock every transaction takes), so concurrent approvals cannot exceed the daily limit together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.core.problems import Problem
from issuer_service.core.security import Admin
from issuer_service.db.base import transaction
from issuer_service.db.tables import Device, DisclosureRequest, IssuedCredential, Person
from issuer_service.db.times import unix, utc
from issuer_service.services.audit import append_audit
from issuer_service.services.persons import AttributesUnavailable, decrypt_attributes, find_by_netno
from netid.credentials.jose import b64url_encode
from netid.credentials.netno import parse_netno
from netid.errors import NetnoError

__all__ = [
    "CASE_REF_LIMIT",
    "REASON_LIMIT",
    "CredentialLog",
    "DeviceLog",
    "Disclosure",
    "DisclosureView",
    "approve_disclosure",
    "get_disclosure",
    "list_disclosures",
    "reject_disclosure",
    "request_disclosure",
]

CASE_REF_LIMIT: Final = 128
REASON_LIMIT: Final = 512
WINDOW: Final = 86_400  # the rolling day of the rate limit, in seconds
#: an IssuedCredential's status value, by name
CREDENTIAL_STATUS: Final = {0: "valid", 1: "revoked", 2: "suspended"}
_DISCLOSURE_LOCK: Final = 0x6E65_7469_6464  # "netidd": serialises approvals on PostgreSQL


@dataclass(frozen=True, slots=True)
class DisclosureView:
    """A disclosure request, without anything it disclosed (times in Unix seconds).

    ``decided_by``/``decided_at`` name the approver of a disclosed request and the rejecter of a rejected
    one (the table's ``approved_by``/``approved_at``).
    """

    id: str
    netno: str
    case_ref: str
    reason: str
    state: str
    requested_by: str
    requested_at: int
    decided_by: str | None
    decided_at: int | None


@dataclass(frozen=True, slots=True)
class CredentialLog:
    configuration_id: str
    rp_id: str | None
    iat: int
    exp: int
    status: str


@dataclass(frozen=True, slots=True)
class DeviceLog:
    created_at: int
    revoked_at: int | None
    credentials: tuple[CredentialLog, ...]


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What an approval returns. ``repr`` hides the personal data (these objects reach logs)."""

    request: DisclosureView
    full_name: str = field(repr=False)
    personal_number: str = field(repr=False)
    date_of_birth: dt.date = field(repr=False)
    devices: tuple[DeviceLog, ...] = field(repr=False)


def _view(row: DisclosureRequest) -> DisclosureView:
    return DisclosureView(
        id=row.id,
        netno=row.netno,
        case_ref=row.case_ref,
        reason=row.reason,
        state=row.state,
        requested_by=row.requested_by,
        requested_at=unix(row.requested_at),
        decided_by=row.approved_by,
        decided_at=None if row.approved_at is None else unix(row.approved_at),
    )


def _text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Problem("validation", f"{name} must be a non-empty text of at most {limit} characters")
    return value


def request_disclosure(
    context: IssuerContext, *, netno: str, case_ref: str, reason: str, admin: Admin
) -> DisclosureView:
    """Open a pending request for the identity behind ``netno`` (``admin`` is the requester's name).

    ``validation`` for a malformed netno, case reference or reason; ``not_found`` if no person has the
    netno.
    """
    try:
        canonical = parse_netno(netno)
    except NetnoError as exc:
        raise Problem("validation", "netno is not a valid network number") from exc
    _text("case_ref", case_ref, CASE_REF_LIMIT)
    _text("reason", reason, REASON_LIMIT)
    now = context.clock()
    with transaction(context.sessions) as session:
        if find_by_netno(session, canonical) is None:
            raise Problem("not_found", "no person has this network number")
        row = DisclosureRequest(
            id=b64url_encode(context.rng(16)),
            netno=canonical,
            case_ref=case_ref,
            reason=reason,
            requested_by=admin.name,
            requested_at=utc(now),
            state="pending",
        )
        session.add(row)
        session.flush()
        append_audit(
            session,
            at=now,
            actor=admin.actor,
            action="disclosure.request",
            subject=canonical,
            details={"request": row.id, "case_ref": case_ref, "reason_sha256": _digest(reason)},
        )
        return _view(row)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _load(session: Session, request_id: str) -> DisclosureRequest:
    row = session.get(DisclosureRequest, request_id, with_for_update=True)
    if row is None:
        raise Problem("not_found", "no such disclosure request")
    return row


def _refuse(
    session: Session, row: DisclosureRequest, *, now: int, admin: Admin, why: str, problem: Problem
) -> Problem:
    """Record a refused approval (committed with the transaction); the problem to answer with."""
    append_audit(
        session,
        at=now,
        actor=admin.actor,
        action="disclosure.refuse",
        subject=row.netno,
        details={"request": row.id, "case_ref": row.case_ref, "refused": why},
    )
    return problem


def _issuance_log(session: Session, person: Person) -> tuple[DeviceLog, ...]:
    devices = list(
        session.scalars(
            select(Device).where(Device.person_id == person.id).order_by(Device.created_at, Device.id)
        )
    )
    credentials: dict[str, list[CredentialLog]] = {d.id: [] for d in devices}
    if devices:
        for row in session.scalars(
            select(IssuedCredential)
            .where(IssuedCredential.device_id.in_(credentials))
            .order_by(IssuedCredential.issued_at, IssuedCredential.id)
        ):
            credentials[row.device_id].append(
                CredentialLog(
                    configuration_id=row.configuration_id,
                    rp_id=row.rp_id,
                    iat=row.iat,
                    exp=row.exp,
                    status=CREDENTIAL_STATUS.get(row.status, str(row.status)),
                )
            )
    return tuple(
        DeviceLog(
            created_at=unix(d.created_at),
            revoked_at=None if d.revoked_at is None else unix(d.revoked_at),
            credentials=tuple(credentials[d.id]),
        )
        for d in devices
    )


def approve_disclosure(context: IssuerContext, request_id: str, *, admin: Admin) -> Disclosure:
    """Approve a pending request as ``admin`` (who must not be its requester) and return the minimum.

    Refusals, each recorded in the audit log: ``forbidden`` (the requester approving), ``conflict`` (not
    pending), ``rate_limited`` (the daily limit is reached; ``retry_after`` seconds), ``unavailable``
    (the person's record cannot be opened). ``not_found`` for an unknown request.
    """
    now = context.clock()
    with transaction(context.sessions) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DISCLOSURE_LOCK})
        outcome = _approve(session, context, _load(session, request_id), now=now, admin=admin)
    # only now, with the refusal's audit entry committed, answer with the refusal
    if isinstance(outcome, Problem):
        raise outcome
    return outcome


def _approve(
    session: Session, context: IssuerContext, row: DisclosureRequest, *, now: int, admin: Admin
) -> Disclosure | Problem:
    """The approval's outcome: the disclosure, or the (recorded) refusal."""
    if row.state != "pending":
        return _refuse(
            session,
            row,
            now=now,
            admin=admin,
            why="not_pending",
            problem=Problem("conflict", f"this request is already {row.state}"),
        )
    if row.requested_by == admin.name:
        return _refuse(
            session,
            row,
            now=now,
            admin=admin,
            why="same_admin",
            problem=Problem("forbidden", "a disclosure needs a second administrator, not its requester"),
        )
    limited = _rate_limit(session, context, row, now=now, admin=admin)
    if limited is not None:
        return limited
    person = find_by_netno(session, row.netno)
    attributes = None
    if person is not None:
        try:
            attributes = decrypt_attributes(person, context)
        except AttributesUnavailable:
            attributes = None
    if person is None or attributes is None:
        return _refuse(
            session,
            row,
            now=now,
            admin=admin,
            why="attributes_unavailable",
            problem=Problem("unavailable", "the person's record cannot be opened"),
        )
    devices = _issuance_log(session, person)
    row.state, row.approved_by, row.approved_at = "disclosed", admin.name, utc(now)
    session.flush()
    append_audit(
        session,
        at=now,
        actor=admin.actor,
        action="disclosure.approve",
        subject=row.netno,
        details={
            "request": row.id,
            "case_ref": row.case_ref,
            "requested_by": row.requested_by,
            "devices": len(devices),
            "credentials": sum(len(d.credentials) for d in devices),
        },
    )
    return Disclosure(
        request=_view(row),
        full_name=attributes.full_name,
        personal_number=attributes.personal_number,
        date_of_birth=attributes.date_of_birth,
        devices=devices,
    )


def _rate_limit(
    session: Session, context: IssuerContext, row: DisclosureRequest, *, now: int, admin: Admin
) -> Problem | None:
    """The recorded refusal if ``disclosures_per_day`` requests were disclosed in the last 24 hours."""
    limit = context.settings.disclosures_per_day
    count, oldest = session.execute(
        select(func.count(DisclosureRequest.id), func.min(DisclosureRequest.approved_at)).where(
            DisclosureRequest.state == "disclosed", DisclosureRequest.approved_at > utc(now - WINDOW)
        )
    ).one()
    if count < limit:
        return None
    # the oldest disclosure in the window leaves it then (with a limit of 0, nothing ever will)
    extra = {"retry_after": max(1, unix(oldest) + WINDOW - now)} if oldest is not None and limit else {}
    return _refuse(
        session,
        row,
        now=now,
        admin=admin,
        why="rate_limited",
        problem=Problem("rate_limited", f"at most {limit} disclosures per 24 hours", extra=extra),
    )


def reject_disclosure(
    context: IssuerContext, request_id: str, *, admin: Admin, reason: str | None = None
) -> DisclosureView:
    """Reject a pending request (any administrator, its requester too: rejecting reveals nothing).

    ``conflict`` if it is not pending; ``not_found`` for an unknown request.
    """
    if reason is not None:
        _text("reason", reason, REASON_LIMIT)
    now = context.clock()
    with transaction(context.sessions) as session:
        row = _load(session, request_id)
        if row.state != "pending":
            raise Problem("conflict", f"this request is already {row.state}")
        row.state, row.approved_by, row.approved_at = "rejected", admin.name, utc(now)
        session.flush()
        details = {"request": row.id, "case_ref": row.case_ref}
        if reason is not None:
            details["reason_sha256"] = _digest(reason)
        append_audit(
            session, at=now, actor=admin.actor, action="disclosure.reject", subject=row.netno, details=details
        )
        return _view(row)


def get_disclosure(context: IssuerContext, request_id: str) -> DisclosureView:
    with transaction(context.sessions) as session:
        row = session.get(DisclosureRequest, request_id)
        if row is None:
            raise Problem("not_found", "no such disclosure request")
        return _view(row)


def list_disclosures(context: IssuerContext, *, states: Sequence[str] = ()) -> list[DisclosureView]:
    """Every request (or those in ``states``), newest first — never what an approval disclosed."""
    query = select(DisclosureRequest).order_by(DisclosureRequest.requested_at.desc(), DisclosureRequest.id)
    if states:
        query = query.where(DisclosureRequest.state.in_(states))
    with transaction(context.sessions) as session:
        return [_view(row) for row in session.scalars(query)]
