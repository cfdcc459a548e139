"""RFC 9457 problem details for every error the issuer returns.

Every error response is ``application/problem+json`` with ``type`` (a URI under ``/problems/``, which
serves its explanation), ``title``, ``status``, ``detail`` and the stable ``code``. Where OpenID4VCI or
OAuth names the error (``invalid_proof``, ``invalid_grant``, …) the body also carries ``error`` and
``error_description``, so a standard wallet library reads it as its own error response.

Nothing an error says ever echoes request content: validation errors give the location of the bad field,
never its value (a personal number could be in it), and a 500 says only that something failed, with an
id that appears in the log line holding the details.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from netid.errors import ISSUANCE_CODES, IssuanceError, ParseError

__all__ = ["PROBLEM_TYPES", "Problem", "install_problem_handlers", "problem_response"]

log = logging.getLogger("issuer_service.problems")

MEDIA_TYPE: Final = "application/problem+json"

#: code -> (HTTP status, title). The stable vocabulary of this service's errors.
PROBLEM_TYPES: Final[dict[str, tuple[int, str]]] = {
    # OpenID4VCI 1.0 / OAuth 2.0
    "invalid_proof": (400, "A key proof is invalid"),
    "invalid_nonce": (400, "The key proofs do not carry a current c_nonce"),
    "invalid_credential_request": (400, "The credential request is invalid"),
    "unknown_credential_configuration": (400, "Unknown credential configuration"),
    "invalid_grant": (400, "The grant is invalid, used or expired"),
    "invalid_request": (400, "The request is invalid"),
    "unsupported_grant_type": (400, "Unsupported grant type"),
    "invalid_token": (401, "The access token is invalid or expired"),
    # enrollment
    "enrollment_unknown": (404, "No such enrollment, or it has expired"),
    "enrollment_used": (409, "This enrollment was already completed with other evidence"),
    "evidence_malformed": (400, "The enrollment evidence cannot be read"),
    "passive_authentication": (422, "The card's data is not authentic"),
    "active_authentication": (422, "The chip did not prove it is genuine"),
    "document_expired": (422, "The ID card has expired"),
    "guardian_required": (422, "A guardian is required"),
    "device_revoked": (403, "This device's credentials were revoked"),
    # generic
    "validation": (422, "The request does not match the API"),
    "not_found": (404, "Not found"),
    "method_not_allowed": (405, "Method not allowed"),
    "unsupported_media_type": (415, "Unsupported media type"),
    "too_large": (413, "The request body is too large"),
    "rate_limited": (429, "Too many requests"),
    "unauthorized": (401, "Authentication required"),
    "forbidden": (403, "Not allowed"),
    "conflict": (409, "Conflict"),
    "unavailable": (503, "A dependency is unavailable"),
    "internal": (500, "Internal error"),
}
_OAUTH_CODES: Final = frozenset(c for c in ISSUANCE_CODES if c.startswith(("invalid_", "unknown_"))) | {
    "invalid_request",
    "unsupported_grant_type",
}


class Problem(Exception):  # noqa: N818 - an RFC 9457 "problem", the standard's own name
    """Raise from a route or service to answer with a problem document.

    ``code`` must be a key of :data:`PROBLEM_TYPES`; ``detail`` is for humans and must not contain
    personal data; ``extra`` adds members (e.g. ``retry_after``); ``headers`` adds response headers
    (e.g. ``WWW-Authenticate`` on a 401).
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if code not in PROBLEM_TYPES:
            raise ValueError(f"unknown problem code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status or PROBLEM_TYPES[code][0]
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def problem_response(
    code: str,
    detail: str,
    *,
    status: int | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The problem document for ``code`` as a response."""
    default_status, title = PROBLEM_TYPES[code]
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status or default_status,
        "detail": detail,
        "code": code,
    }
    if code in _OAUTH_CODES:
        body["error"] = code
        body["error_description"] = detail
    body.update(extra or {})
    return JSONResponse(body, status_code=body["status"], media_type=MEDIA_TYPE, headers=dict(headers or {}))


_STARLETTE_CODES: Final = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem document (see the module docstring)."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        headers = dict(exc.headers)
        if "retry_after" in exc.extra:
            headers["Retry-After"] = str(exc.extra["retry_after"])
        return problem_response(exc.code, exc.detail, status=exc.status, extra=exc.extra, headers=headers)

    @app.exception_handler(IssuanceError)
    async def _issuance(request: Request, exc: IssuanceError) -> JSONResponse:
        code = exc.code if exc.code in PROBLEM_TYPES else "invalid_request"
        message = str(exc).removeprefix(f"{exc.code}: ")
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if code == "invalid_token" else None
        return problem_response(code, message, headers=headers)

    @app.exception_handler(ParseError)
    async def _parse(request: Request, exc: ParseError) -> JSONResponse:
        return problem_response("invalid_request", f"{exc.what}: {exc.reason}")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # locations and kinds only: FastAPI's own error list would echo the offending input
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type")} for e in exc.errors()]
        return problem_response("validation", "the request does not match the API", extra={"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STARLETTE_CODES.get(exc.status_code, "invalid_request")
        return problem_response(
            code, str(exc.detail) if code == "invalid_request" else PROBLEM_TYPES[code][1]
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        error_id = secrets.token_hex(8)
        # the traceback goes to the log, where the error id finds it; the client learns nothing else
        log.error("unhandled error", extra={"error_id": error_id, "path": request.url.path}, exc_info=exc)
        return problem_response("internal", "the request failed", extra={"error_id": error_id})
