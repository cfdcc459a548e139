"""Enrollment: start (a one-time challenge) and complete (sealed card evidence → offer)."""

from __future__ import annotations

from fastapi import APIRouter

from issuer_service.api.deps import ContextDep, SessionDep
from issuer_service.core.problems import PROBLEM_TYPES, Problem
from issuer_service.schemas.enrollment import (
    EnrollmentCompleteRequest,
    EnrollmentCompleteResponse,
    EnrollmentStartResponse,
)
from issuer_service.services.enrollment import EnrollmentRefused, complete_enrollment, start_enrollment
from netid.credentials.jose import b64url_encode

router = APIRouter(prefix="/enrollment", tags=["enrollment"])


_COMPLETE_ERRORS = (
    "enrollment_unknown", "enrollment_used", "evidence_malformed", "passive_authentication",
    "active_authentication", "document_expired", "guardian_required", "validation",
)  # fmt: skip


def refused_problem(exc: EnrollmentRefused) -> Problem:
    """The problem document for a refused enrollment check (its code, detail and extra members)."""
    return Problem(exc.code, exc.detail, extra=exc.extra)


@router.post("/start", summary="A one-time challenge and the key to seal the card evidence to")
def start(context: ContextDep, session: SessionDep) -> EnrollmentStartResponse:
    started = start_enrollment(session, context)
    return EnrollmentStartResponse(
        enrollment_id=started.enrollment_id,
        challenge=b64url_encode(started.challenge),
        expires_at=started.expires_at,
        enrollment_key=started.enrollment_key,
    )


@router.post(
    "/complete",
    summary="Sealed card evidence in; the network number and a credential offer out",
    description=(
        "Checks the evidence in the order of specs/enrollment.md; the first failing check answers with "
        "its problem code. A retry with the same evidence bytes returns the same result."
    ),
    responses={
        PROBLEM_TYPES[code][0]: {"description": ", ".join(c for c in _COMPLETE_ERRORS
                                                         if PROBLEM_TYPES[c][0] == PROBLEM_TYPES[code][0])}
        for code in _COMPLETE_ERRORS
    },
)  # fmt: skip
def complete(
    body: EnrollmentCompleteRequest, context: ContextDep, session: SessionDep
) -> EnrollmentCompleteResponse:
    try:
        done = complete_enrollment(session, context, enrollment_id=body.enrollment_id, sealed=body.evidence)
    except EnrollmentRefused as exc:
        raise refused_problem(exc) from None
    return EnrollmentCompleteResponse(
        netno=done.netno,
        credential_offer=done.offer.to_json(),
        credential_offer_uri=done.offer.to_uri(),
    )
