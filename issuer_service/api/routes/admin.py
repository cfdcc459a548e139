"""The admin API: RP registry, key rotation, lawful disclosure, the audit log.

Every route needs an administrator's bearer token (:data:`~issuer_service.api.deps.AdminDep`); the
administrator's name is what the audit log records. Responses are never cached (``no-store``): they carry
certificates, and an approved disclosure carries a person's identity.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from issuer_service.api.deps import AdminDep, ContextDep, SessionDep
from issuer_service.schemas.admin import (
    AuditEntryResponse,
    AuditListResponse,
    AuditVerifyResponse,
    ChainBreakResponse,
    ChainHead,
    CredentialLogResponse,
    DeviceLogResponse,
    DisclosedPerson,
    DisclosureApprovalResponse,
    DisclosureCreateRequest,
    DisclosureDecisionRequest,
    DisclosureListResponse,
    DisclosureResponse,
    KeyRotationResponse,
    RpListResponse,
    RpRegistrationRequest,
    RpResponse,
    RpStateChangeRequest,
    RpUpdateRequest,
    StatusReference,
)
from issuer_service.services import disclosure as disclosures
from issuer_service.services import registry
from issuer_service.services.audit import audit_entries, chain_head, verify_chain
from issuer_service.services.keys import publish_for
from issuer_service.services.registry import RpRecord, RpSpec

__all__ = ["router"]


async def _no_store(response: Response) -> None:
    # async: a plain def dependency would cost every admin request a hop to a worker thread
    response.headers["Cache-Control"] = "no-store"


_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
router = APIRouter(
    prefix="/admin",
    dependencies=[Depends(_no_store)],
    responses={401: {"description": "No or unknown administrator token", **_PROBLEM}},
)

KeyPurposeName = Literal["netcert", "rp_certificate", "status_list", "enrollment"]
RpState = Literal["active", "suspended", "revoked"]
rps = APIRouter(tags=["admin: relying parties"])
keys = APIRouter(tags=["admin: keys"])
lawful = APIRouter(tags=["admin: lawful disclosure"])
audit = APIRouter(tags=["admin: audit"])


# --- RP registry ------------------------------------------------------------------------------------


def _rp(record: RpRecord) -> RpResponse:
    return RpResponse(
        **registry.spec_values(record.spec),
        state=record.state,  # type: ignore[arg-type]  # one of the three, by the registry's transitions
        status=StatusReference(uri=record.status_uri, idx=record.status_idx),
        certificate=record.certificate,
        certificate_exp=record.certificate_exp,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


@rps.post(
    "/rps",
    status_code=201,
    summary="Register a relying party and issue its RP access certificate",
    responses={
        409: {"description": "The rp_id is taken", **_PROBLEM},
        422: {"description": "Invalid", **_PROBLEM},
    },
)
def register_rp(
    body: RpRegistrationRequest, admin: AdminDep, context: ContextDep, session: SessionDep
) -> RpResponse:
    spec = RpSpec(**body.model_dump())
    return _rp(registry.register_rp(session, context, spec, actor=admin.actor))


@rps.get("/rps", summary="List the registered relying parties")
def list_rps(
    admin: AdminDep, context: ContextDep, session: SessionDep, state: RpState | None = None
) -> RpListResponse:
    return RpListResponse(rps=[_rp(r) for r in registry.list_rps(session, context, state=state)])


@rps.get(
    "/rps/{rp_id}",
    summary="One relying party, with its current certificate",
    responses={404: {"description": "No such RP", **_PROBLEM}},
)
def get_rp(rp_id: str, admin: AdminDep, context: ContextDep, session: SessionDep) -> RpResponse:
    return _rp(registry.get_rp(session, context, rp_id))


@rps.patch(
    "/rps/{rp_id}",
    summary="Update a relying party and issue a new certificate (an empty body renews it)",
    description=(
        "A change takes effect at once: the new certificate gets a fresh status entry and the certificate "
        "it replaces is revoked in its status list. A renewal (empty body) keeps the entry: both "
        "certificates say the same."
    ),
    responses={
        404: {"description": "No such RP", **_PROBLEM},
        409: {"description": "The RP is revoked", **_PROBLEM},
        422: {"description": "Invalid", **_PROBLEM},
    },
)
def update_rp(
    rp_id: str, body: RpUpdateRequest, admin: AdminDep, context: ContextDep, session: SessionDep
) -> RpResponse:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    return _rp(registry.update_rp(session, context, rp_id, changes, actor=admin.actor))


def _state_route(action: registry.RpAction, summary: str) -> None:
    @rps.post(
        f"/rps/{{rp_id}}/{action}",
        summary=summary,
        name=f"{action}_rp",
        operation_id=f"{action}_rp",
        responses={
            404: {"description": "No such RP", **_PROBLEM},
            409: {"description": f"The RP's state does not allow {action}", **_PROBLEM},
        },
    )
    def change_state(
        rp_id: str,
        admin: AdminDep,
        context: ContextDep,
        session: SessionDep,
        body: RpStateChangeRequest | None = None,
    ) -> RpResponse:
        reason = body.reason if body is not None else None
        record = registry.change_rp_state(session, context, rp_id, action, actor=admin.actor, reason=reason)
        return _rp(record)


_state_route("suspend", "Suspend a relying party (wallets refuse it until it is reinstated)")
_state_route("reinstate", "Reinstate a suspended relying party")
_state_route("revoke", "Revoke a relying party (final)")


# --- keys -------------------------------------------------------------------------------------------


@keys.post(
    "/keys/{purpose}/rotate",
    summary="Sign a purpose with a new key; the old one stays published until what it signed expires",
)
def rotate_key(purpose: KeyPurposeName, admin: AdminDep, context: ContextDep) -> KeyRotationResponse:
    # Not in a request transaction (no SessionDep): KeyService.rotate commits its own, and on SQLite a
    # second open write transaction would wait for the first.
    done = context.keys.rotate(
        purpose, publish_for=publish_for(purpose, context.settings), actor=admin.actor, at=context.clock()
    )
    context.keys.ring()  # load the new ring now, outside any transaction
    return KeyRotationResponse(
        purpose=purpose, kid=done.kid, retired=list(done.retired), publish_until=done.publish_until
    )


# --- lawful disclosure ------------------------------------------------------------------------------


def _disclosure(view: disclosures.DisclosureView) -> DisclosureResponse:
    return DisclosureResponse(
        id=view.id,
        netno=view.netno,
        case_ref=view.case_ref,
        reason=view.reason,
        state=view.state,  # type: ignore[arg-type]  # one of the three, by the service
        requested_by=view.requested_by,
        requested_at=view.requested_at,
        decided_by=view.decided_by,
        decided_at=view.decided_at,
    )


@lawful.post(
    "/disclosures",
    status_code=201,
    summary="Request the identity behind a netno (a second administrator must approve)",
    responses={404: {"description": "No person has this netno", **_PROBLEM}},
)
def request_disclosure(
    body: DisclosureCreateRequest, admin: AdminDep, context: ContextDep
) -> DisclosureResponse:
    view = disclosures.request_disclosure(
        context, netno=body.netno, case_ref=body.case_ref, reason=body.reason, admin=admin
    )
    return _disclosure(view)


@lawful.get("/disclosures", summary="List disclosure requests (never what they disclosed)")
def list_disclosures(
    admin: AdminDep,
    context: ContextDep,
    state: Literal["pending", "disclosed", "rejected"] | None = None,
) -> DisclosureListResponse:
    views = disclosures.list_disclosures(context, states=() if state is None else (state,))
    return DisclosureListResponse(disclosures=[_disclosure(v) for v in views])


@lawful.get(
    "/disclosures/{request_id}",
    summary="One disclosure request (never what it disclosed)",
    responses={404: {"description": "No such request", **_PROBLEM}},
)
def get_disclosure(request_id: str, admin: AdminDep, context: ContextDep) -> DisclosureResponse:
    return _disclosure(disclosures.get_disclosure(context, request_id))


@lawful.post(
    "/disclosures/{request_id}/approve",
    summary="Approve a request as a second administrator: returns the identity and issuance log, once",
    responses={
        403: {"description": "The requester cannot approve their own request", **_PROBLEM},
        404: {"description": "No such request", **_PROBLEM},
        409: {"description": "The request is not pending", **_PROBLEM},
        429: {"description": "The daily disclosure limit is reached", **_PROBLEM},
    },
)
def approve_disclosure(request_id: str, admin: AdminDep, context: ContextDep) -> DisclosureApprovalResponse:
    result = disclosures.approve_disclosure(context, request_id, admin=admin)
    return DisclosureApprovalResponse(
        request=_disclosure(result.request),
        person=DisclosedPerson(
            full_name=result.full_name,
            personal_number=result.personal_number,
            date_of_birth=result.date_of_birth,
        ),
        devices=[
            DeviceLogResponse(
                created_at=d.created_at,
                revoked_at=d.revoked_at,
                credentials=[
                    CredentialLogResponse(
                        configuration_id=c.configuration_id,
                        rp_id=c.rp_id,
                        iat=c.iat,
                        exp=c.exp,
                        status=c.status,
                    )
                    for c in d.credentials
                ],
            )
            for d in result.devices
        ],
    )


@lawful.post(
    "/disclosures/{request_id}/reject",
    summary="Reject a pending request",
    responses={
        404: {"description": "No such request", **_PROBLEM},
        409: {"description": "The request is not pending", **_PROBLEM},
    },
)
def reject_disclosure(
    request_id: str, admin: AdminDep, context: ContextDep, body: DisclosureDecisionRequest | None = None
) -> DisclosureResponse:
    reason = body.reason if body is not None else None
    return _disclosure(disclosures.reject_disclosure(context, request_id, admin=admin, reason=reason))


# --- audit log --------------------------------------------------------------------------------------


@audit.get("/audit", summary="Audit log entries, oldest first")
def list_audit(
    admin: AdminDep,
    session: SessionDep,
    after: Annotated[int, Query(ge=0, description="Only entries with a larger seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[
        str | None, Query(max_length=64, description="One action, or a family ending in '.': 'rp.'")
    ] = None,
) -> AuditListResponse:
    entries = audit_entries(session, after=after, limit=limit, action=action)
    return AuditListResponse(
        entries=[
            AuditEntryResponse(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                action=e.action,
                subject=e.subject,
                details=dict(e.details),
                hash=e.hash,
            )
            for e in entries
        ]
    )


@audit.get(
    "/audit/verify",
    summary="Check the audit log's hash chain: ok, or the first entry where it breaks",
    response_model_exclude_none=True,
)
def verify_audit(admin: AdminDep, session: SessionDep) -> AuditVerifyResponse:
    broken = verify_chain(session)
    head = chain_head(session)
    return AuditVerifyResponse.model_validate(
        {
            "ok": broken is None,
            "head": None if head is None else ChainHead(seq=head[0], hash=head[1]),
            "break": None if broken is None else ChainBreakResponse(seq=broken.seq, reason=broken.reason),
        }
    )


for _area in (rps, keys, lawful, audit):
    router.include_router(_area)
