"""Token Status Lists, served as signed JWTs with cache headers (static-file and CDN friendly)."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request, Response

from issuer_service.api.deps import ContextDep, SessionDep
from issuer_service.core.problems import Problem
from issuer_service.services.status import status_list_token

router = APIRouter(tags=["status"])

MEDIA_TYPE = "application/statuslist+jwt"


@router.get(
    "/status/{list_id}",
    summary="A Token Status List (draft-ietf-oauth-status-list), signed with the status-list key",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}}},
)
def status_list(list_id: int, request: Request, context: ContextDep, session: SessionDep) -> Response:
    token = status_list_token(session, context, list_id)
    if token is None:
        raise Problem("not_found", "no such status list")
    etag = '"' + hashlib.sha256(token.encode()).hexdigest()[:32] + '"'
    headers = {"Cache-Control": f"public, max-age={context.settings.status_list_ttl}", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(token, media_type=MEDIA_TYPE, headers=headers)
