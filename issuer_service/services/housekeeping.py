"""Housekeeping: delete the rows that can no longer change any answer.

Enrollment challenges, pre-authorized codes, tokens and nonces are single-use and short-lived; without
this, their tables only grow (one enrollment writes an enrollment, a code, two tokens and a nonce). A row
is deleted only once the service's own rules already refuse it — so purging never changes an answer:

* a **pending enrollment** past ``expires_at`` (``complete`` answers ``enrollment_unknown``);
* a **completed enrollment** whose offer has expired (``completed_at + offer_ttl``: a retried
  ``complete`` answers ``enrollment_unknown`` from then on — the same code it gets for a deleted row);
* a **pre-authorized code**, **token** or **nonce** past its ``expires_at`` (refused as expired; a used
  refresh token is kept until it expires, so that its reuse is still detected and revokes its family).

Persons, devices, issued credentials, status lists, RPs, keys and the audit log are never purged here:
they are the service's durable record. The deletes are idempotent, so several issuer processes may run
them at once (:func:`purge_expired`, every ``purge_interval`` seconds in each process, and
``netid-issuer purge``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, or_
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.db.tables import Enrollment, Nonce, PreAuthorizedCode, Token
from issuer_service.db.times import utc

__all__ = ["PurgeCounts", "purge_expired"]


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """Rows deleted, per table."""

    enrollments: int
    pre_authorized_codes: int
    tokens: int
    nonces: int

    @property
    def total(self) -> int:
        return self.enrollments + self.pre_authorized_codes + self.tokens + self.nonces


def purge_expired(session: Session, context: IssuerContext) -> PurgeCounts:
    """Delete what the module docstring lists, as of ``context.clock()``, in the caller's transaction."""
    now = context.clock()
    at = utc(now)
    offer_gone = utc(now - context.settings.offer_ttl)
    enrollments = session.execute(
        delete(Enrollment).where(
            or_(
                and_(Enrollment.state == "pending", Enrollment.expires_at <= at),
                and_(Enrollment.state == "completed", Enrollment.completed_at <= offer_gone),
            )
        )
    )
    codes = session.execute(delete(PreAuthorizedCode).where(PreAuthorizedCode.expires_at <= at))
    tokens = session.execute(delete(Token).where(Token.expires_at <= at))
    nonces = session.execute(delete(Nonce).where(Nonce.expires_at <= at))
    return PurgeCounts(
        enrollments=enrollments.rowcount,  # type: ignore[attr-defined]
        pre_authorized_codes=codes.rowcount,  # type: ignore[attr-defined]
        tokens=tokens.rowcount,  # type: ignore[attr-defined]
        nonces=nonces.rowcount,  # type: ignore[attr-defined]
    )
