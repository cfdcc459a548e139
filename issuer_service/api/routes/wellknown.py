"""Published metadata: JWKS, SD-JWT VC issuer metadata, OpenID4VCI issuer and OAuth server metadata.

The two documents built from the settings alone are ``async def``: no I/O, so no hop to a worker thread.
The two that carry keys stay ``def``: :meth:`~issuer_service.services.keys.KeyService.ring` re-reads the key
rows from the database every ``RELOAD_SECONDS``, under a lock another request may hold while it does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from issuer_service.api.deps import ContextDep
from issuer_service.services.metadata import (
    authorization_server_metadata,
    credential_issuer_metadata,
    jwt_vc_issuer_metadata,
)

router = APIRouter(tags=["metadata"])

_CACHE = "public, max-age=300"


@router.get("/jwks.json", summary="Every published issuer key, with its kid, alg and netid_purpose")
def jwks(context: ContextDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = _CACHE
    return context.keys.ring().jwks()


@router.get("/.well-known/jwt-vc-issuer", summary="SD-JWT VC issuer metadata (netcert signing keys)")
def jwt_vc_issuer(context: ContextDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = _CACHE
    return jwt_vc_issuer_metadata(context)


@router.get("/.well-known/openid-credential-issuer", summary="OpenID4VCI 1.0 credential issuer metadata")
async def openid_credential_issuer(context: ContextDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = _CACHE
    return credential_issuer_metadata(context)


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 authorization server metadata")
async def oauth_authorization_server(context: ContextDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = _CACHE
    return authorization_server_metadata(context)
