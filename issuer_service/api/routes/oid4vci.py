"""OpenID4VCI 1.0: the token, nonce and credential endpoints (``specs/enrollment.md`` "Issuance")."""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from issuer_service.api.deps import ContextDep, SessionDep
from issuer_service.core.problems import problem_response
from issuer_service.schemas.oid4vci import (
    CREDENTIAL_REQUEST_SCHEMA,
    TOKEN_REQUEST_SCHEMA,
    CredentialResponse,
    IssuedCredentialItem,
    NonceResponse,
    TokenResponse,
)
from issuer_service.services.issuance import (
    RefreshTokenReuse,
    authenticate,
    issue_credentials,
    issue_nonce,
    redeem_token,
)
from netid.errors import IssuanceError

router = APIRouter(tags=["openid4vci"])

#: token and credential requests are small; the service-wide body limit applies on top
_MAX_FORM: Final = 8 * 1024
_MAX_JSON: Final = 256 * 1024
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM_TYPE: Final = "application/x-www-form-urlencoded"


async def _form(request: Request) -> dict[str, str]:
    """The token request's parameters (RFC 6749 §3.2: form-encoded, each at most once)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM_TYPE:
        raise IssuanceError("invalid_request", f"the token request must be {_FORM_TYPE}")
    body = await request.body()
    if len(body) > _MAX_FORM:
        raise IssuanceError("invalid_request", "the token request is too large")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=16
        )
    except (UnicodeDecodeError, ValueError):
        raise IssuanceError("invalid_request", "the token request is not a valid form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise IssuanceError("invalid_request", "a parameter is repeated")
        form[name] = value
    return form


async def _json_body(request: Request) -> object:
    """The credential request's JSON, or ``None`` when it is not JSON (the service refuses it with
    ``invalid_credential_request`` after it has checked the access token)."""
    body = await request.body()
    if len(body) > _MAX_JSON:
        return None
    try:
        parsed: object = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return parsed


@router.post(
    "/token",
    summary="OAuth 2.0 token endpoint: the pre-authorized code or a refresh token for an access token",
    openapi_extra={
        "requestBody": {"required": True, "content": {_FORM_TYPE: {"schema": TOKEN_REQUEST_SCHEMA}}}
    },
    response_model=TokenResponse,
)
def token(
    form: Annotated[dict[str, str], Depends(_form)], context: ContextDep, session: SessionDep
) -> Response:
    try:
        grant = redeem_token(session, context, form)
    except RefreshTokenReuse as exc:
        # answered without raising, so the revocation of the device's tokens is committed
        return problem_response(exc.code, str(exc).removeprefix(f"{exc.code}: "), headers=_NO_STORE)
    body = TokenResponse(
        access_token=grant.access_token, refresh_token=grant.refresh_token, expires_in=grant.expires_in
    )
    return JSONResponse(body.model_dump(), headers=_NO_STORE)


@router.post("/nonce", summary="A fresh c_nonce for key proofs (OpenID4VCI 1.0 §7)")
def nonce(context: ContextDep, session: SessionDep, response: Response) -> NonceResponse:
    response.headers.update(_NO_STORE)
    return NonceResponse(c_nonce=issue_nonce(session, context))


@router.post(
    "/credential",
    summary="A batch of netcerts, one per key proof (OpenID4VCI 1.0 §8)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CREDENTIAL_REQUEST_SCHEMA}},
        }
    },
)
def credential(
    body: Annotated[Any, Depends(_json_body)],
    context: ContextDep,
    session: SessionDep,
    response: Response,
    authorization: Annotated[str | None, Header()] = None,
) -> CredentialResponse:
    device = authenticate(session, context, authorization)
    batch = issue_credentials(session, context, device, body)
    response.headers.update(_NO_STORE)
    return CredentialResponse(credentials=[IssuedCredentialItem(credential=c) for c in batch.credentials])
