"""Enrollment: start (a one-time challenge) and complete (sealed card evidence → offer)."""

from __future__ import annotations

from fastapi import APIRouter

from issuer_service.api.deps import ContextDep, SessionDep
from issuer_service.schemas.enrollment import EnrollmentStartResponse
from issuer_service.services.enrollment import start_enrollment
from netid.credentials.jose import b64url_encode

router = APIRouter(prefix="/enrollment", tags=["enrollment"])


@router.post("/start", summary="A one-time challenge and the key to seal the card evidence to")
def start(context: ContextDep, session: SessionDep) -> EnrollmentStartResponse:
    started = start_enrollment(session, context)
    return EnrollmentStartResponse(
        enrollment_id=started.enrollment_id,
        challenge=b64url_encode(started.challenge),
        expires_at=started.expires_at,
        enrollment_key=started.enrollment_key,
    )
