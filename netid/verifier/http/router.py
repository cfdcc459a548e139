"""The relying party's endpoints as a FastAPI router: mount it and the RP serves requests and takes
responses.

::

    app = FastAPI()
    app.include_router(netid_router(rp))          # rp: netid.verifier.http.RelyingParty

    @app.post("/age-check")
    def age_check(session: …) -> …:
        tx = rp.start(Query(purpose="age check", age_over=18))
        session["netid_tx"] = tx.id                    # bind the transaction to this browser
        return {"qr": tx.qr_text}

Routes (under ``rp.prefix``; include the router without a further prefix, since the URLs in the
requests are built from ``rp.base_url`` and ``rp.prefix``):

- ``GET  /request/{tx}`` → ``200`` ``application/oauth-authz-req+jwt``;
- ``POST /response/{tx}`` (and ``POST /response`` for a shared response URI) ←
  ``application/x-www-form-urlencoded`` → ``200`` ``application/json`` ``{}`` or
  ``{"redirect_uri": …}``;
- ``GET  /transactions/{tx}`` → ``{"status": …, "expires_at": …}`` for a polling page (only the status;
  the app reads answers with ``rp.result``). Leave it out with ``status_route=False``.

Every refusal is an RFC 9457 problem (``application/problem+json``) with the stable ``code``
(:class:`~netid.verifier.http.relying_party.TransactionError`, or the verification code) and never a
disclosed value; a body over ``rp.max_body_bytes`` is refused (413) before it is read in full, another
content type with 415. Every response is ``Cache-Control: no-store``.

The response endpoint is ``async``: it reads the body without a worker thread and, with the in-memory
store, verifies inline — a few hundred microseconds of CPU, the same work a thread would do while
holding the GIL, without the hand-over (``bench/rp.py``). A status list or JWKS fetch, when due, then
blocks the event loop for at most the fetch timeout, once per cache period. With any other store
(a database round trip per step) it runs :meth:`RelyingParty.receive` in the thread pool instead;
``in_thread`` forces either.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from netid.errors import TransactionError
from netid.oid4vp.request import REQUEST_TYP
from netid.verifier.http.relying_party import RelyingParty
from netid.verifier.transactions import InMemoryTransactionStore

__all__ = ["REQUEST_MEDIA_TYPE", "netid_router", "problem_response"]

REQUEST_MEDIA_TYPE: Final = f"application/{REQUEST_TYP}"
_NO_STORE: Final = {"Cache-Control": "no-store"}
_FORM: Final = "application/x-www-form-urlencoded"
_MAX_FIELDS: Final = 8
_PROBLEM: Final[dict[str, Any]] = {"content": {"application/problem+json": {}}}
_TX_PARAMETER: Final[dict[str, Any]] = {
    "name": "tx_id",
    "in": "path",
    "required": True,
    "description": "The transaction id (22-128 base64url characters)",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22,128}$"},
}


def problem_response(error: TransactionError) -> JSONResponse:
    """An RFC 9457 problem for ``error``: ``type`` ``/problems/<code>``, ``title``, ``status``,
    ``detail`` and the ``code``."""
    body = {
        "type": f"/problems/{error.code}",
        "title": error.code.replace("_", " "),
        "status": error.status,
        "detail": error.message,
        "code": error.code,
    }
    return JSONResponse(
        body, status_code=error.status, media_type="application/problem+json", headers=_NO_STORE
    )


async def _read_form(request: Request, max_bytes: int) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != _FORM:
        raise TransactionError("unsupported_media_type", 415, f"the response must be {_FORM}")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > max_bytes):
        raise TransactionError("body_too_large", 413, f"the body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TransactionError("body_too_large", 413, f"the body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8")
        pairs = urllib.parse.parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, max_num_fields=_MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise TransactionError("invalid_response", 400, "the body is not a UTF-8 form") from exc
    form = dict(pairs)
    if len(form) != len(pairs):
        raise TransactionError("invalid_response", 400, "a form field is repeated")
    return form


def netid_router(rp: RelyingParty, *, status_route: bool = True, in_thread: bool | None = None) -> APIRouter:
    """The routes of ``rp`` (see the module docstring), under ``rp.prefix``. ``in_thread``: verify and
    update the store in the thread pool (default: only when the store is not the in-memory one)."""
    router = APIRouter(prefix=rp.prefix, tags=["netid"])
    threaded = not isinstance(rp.store, InMemoryTransactionStore) if in_thread is None else in_thread

    @router.get(
        "/request/{tx_id}",
        summary="The signed OpenID4VP request object of a transaction (request_uri)",
        response_class=Response,
        responses={200: {"content": {REQUEST_MEDIA_TYPE: {}}}, 404: _PROBLEM, 409: _PROBLEM, 410: _PROBLEM},
    )
    def request_object(tx_id: str) -> Response:
        try:
            token = rp.request_object(tx_id)
        except TransactionError as exc:
            return problem_response(exc)
        return Response(token, media_type=REQUEST_MEDIA_TYPE, headers=_NO_STORE)

    async def respond(request: Request, tx_id: str | None) -> JSONResponse:
        try:
            form = await _read_form(request, rp.max_body_bytes)
        except TransactionError as exc:
            if tx_id is not None:
                rp.log_refused(tx_id, exc)
            return problem_response(exc)
        try:
            if threaded:
                body = await run_in_threadpool(rp.receive, form, tx_id=tx_id)
            else:
                body = rp.receive(form, tx_id=tx_id)
        except TransactionError as exc:
            return problem_response(exc)
        return JSONResponse(body, headers=_NO_STORE)

    responses = {
        200: {"content": {"application/json": {}}},
        **{code: _PROBLEM for code in (400, 404, 409, 410, 413, 415, 503)},
    }

    if rp.per_transaction:

        @router.post(
            "/response/{tx_id}",
            summary="The wallet's direct_post / direct_post.jwt response to a transaction",
            responses=responses,  # type: ignore[arg-type]
            openapi_extra={"parameters": [_TX_PARAMETER]},
        )
        async def response(request: Request) -> JSONResponse:
            # the path parameter is read, not declared: FastAPI's per-parameter validation is a quarter of
            # this endpoint's cost over HTTP, and the id is checked against its pattern anyway
            return await respond(request, request.path_params["tx_id"])

    else:

        @router.post(
            "/response",
            summary="The wallet's response at the RP's one shared response URI (found by state)",
            responses=responses,  # type: ignore[arg-type]
        )
        async def shared_response(request: Request) -> JSONResponse:
            return await respond(request, None)

    if status_route:

        @router.get(
            "/transactions/{tx_id}",
            summary="A transaction's status, for a page that polls (never its answers)",
            responses={404: _PROBLEM},
        )
        def transaction_status(tx_id: str) -> JSONResponse:
            result = rp.result(tx_id)
            tx = rp.transaction(tx_id) if result is not None else None
            if result is None or tx is None:
                return problem_response(TransactionError("unknown_transaction", 404, "no such transaction"))
            return JSONResponse(
                {"status": result.status.value, "expires_at": tx.expires_at}, headers=_NO_STORE
            )

    return router
