"""Device revocation (a lost phone): by the device key, or by a fresh card read."""

from __future__ import annotations

from fastapi import APIRouter

from issuer_service.api.deps import ContextDep, SessionDep
from issuer_service.api.routes.enrollment import refused_problem
from issuer_service.core.problems import Problem
from issuer_service.schemas.devices import DeviceRevokeRequest, RevocationResponse, RevokeByCardRequest
from issuer_service.services.devices import (
    DeviceRevocationError,
    Revocation,
    revoke_by_card,
    revoke_by_device_key,
)
from issuer_service.services.enrollment import EnrollmentRefused

router = APIRouter(prefix="/devices", tags=["devices"])


def _response(done: Revocation) -> RevocationResponse:
    return RevocationResponse(netno=done.netno, devices=done.devices, credentials=done.credentials)


@router.post(
    "/revoke",
    summary="Revoke this device's credentials, authorised by the device key",
    responses={400: {"description": "invalid_request"}, 401: {"description": "unauthorized"}},
)
def revoke(body: DeviceRevokeRequest, context: ContextDep, session: SessionDep) -> RevocationResponse:
    try:
        done = revoke_by_device_key(session, context, body.request)
    except DeviceRevocationError as exc:
        headers = {"WWW-Authenticate": 'NetID-Device realm="netid"'} if exc.code == "unauthorized" else None
        raise Problem(exc.code, exc.detail, headers=headers) from None
    return _response(done)


@router.post(
    "/revoke-by-card",
    summary="Revoke every device of the person whose card was just read (a lost phone)",
    description=(
        "Start an enrollment, read the card with its challenge, and send the sealed evidence here instead "
        "of to /enrollment/complete. The card is checked as at enrollment, except that an expired card is "
        "accepted."
    ),
    responses={
        404: {"description": "enrollment_unknown, not_found"},
        409: {"description": "enrollment_used"},
    },
)
def revoke_with_card(
    body: RevokeByCardRequest, context: ContextDep, session: SessionDep
) -> RevocationResponse:
    try:
        done = revoke_by_card(session, context, enrollment_id=body.enrollment_id, sealed=body.evidence)
    except EnrollmentRefused as exc:
        raise refused_problem(exc) from None
    return _response(done)
