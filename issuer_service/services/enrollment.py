"""Enrollment: a one-time challenge, then sealed card evidence → checks → network number → credential offer.

``specs/enrollment.md`` is the normative description. Pure service functions over a session and the
process context; no FastAPI imports.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.db.tables import Enrollment
from netid.credentials.jose import b64url_encode

__all__ = ["StartedEnrollment", "start_enrollment"]

#: ICAO 9303-11 active authentication signs an 8-byte challenge
CHALLENGE_BYTES = 8


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
        created_at=dt.datetime.fromtimestamp(now, dt.UTC),
        expires_at=dt.datetime.fromtimestamp(now + context.settings.enrollment_ttl, dt.UTC),
        state="pending",
    )
    session.add(enrollment)
    return StartedEnrollment(
        enrollment_id=enrollment.id,
        challenge=enrollment.challenge,
        expires_at=now + context.settings.enrollment_ttl,
        enrollment_key=dict(ring.enrollment_jwk),
    )
