"""The shop's web app: server-rendered pages over NetID's relying-party router.

Pages (Jinja2 templates in ``templates/``, a stylesheet and one small polling script in ``static/``):

- ``GET /`` home; ``POST /signin`` "Sign in with NetID" (the pairwise subject, and that the ID document
  is valid); ``GET /account`` the subject, the assurance and every answer — never an ID number;
  ``POST /signout``;
- ``GET /age`` the wine cellar, over 18 only (``POST /age`` starts the check); a "no" is refused (403);
- ``GET /name`` and ``POST /name``: "confirm your real name" — the customer types a name, the shop asks
  ``name_equals`` and learns only yes or no;
- ``GET /check`` the pending check: a QR code of the request URI (cross-device) and an ``openid4vp://``
  link (same-device), the page polling ``GET /check/status`` until the wallet has answered; then
  ``GET /check/done`` (cross-device) or ``GET /check/callback?response_code=…`` (the wallet's redirect,
  same-device) records the answers in the session, or shows a clear page for a request that expired, an
  answer that did not verify (a replayed or copied response) or a link already used;
- ``GET /counter`` the in-person desk: its signed counter QR, and a form taking a holder's dynamic QR
  (``POST /counter``), answered yes or no on screen;
- ``GET /api/session`` what this browser's session holds, as JSON (the demo and tests read it);
  ``GET /healthz``;
- under ``/netid`` the router of :func:`netid.verifier.http.netid_router`: the signed request objects,
  the wallets' responses, each transaction's status.

Each check starts two transactions — one shown as the QR code, one behind the same-device link (its
answers are released only with the ``response_code`` of the wallet's redirect) — and keeps both ids in
the signed session cookie (:mod:`relying_party_example.session`), so an answer lands only in the
browser that asked.

Telemetry (FastAPI 0.165 and later): FastAPI records OpenTelemetry spans, request metrics and log records
of failures once providers are configured, and nothing before. Pass them to :func:`create_app` as
``telemetry={"tracer_provider": …, "meter_provider": …, "logger_provider": …}``
(``fastapi.telemetry.TelemetryConfig``), or, for ``python -m relying_party_example serve``, set the
process's providers: run it under ``opentelemetry-instrument``, or set ``FASTAPI_OTEL_AUTO_CONFIGURE=true``
and ``OTEL_EXPORTER_OTLP_ENDPOINT`` with ``fastapi[opentelemetry]`` installed. Either way the recorded URL
holds no secret: the callback's query is ``response_code=REDACTED`` and the NetID router's transaction ids
are ``/netid/request/REDACTED`` (:mod:`relying_party_example.telemetry`); headers (the session cookie) and
bodies are never recorded. ``tests/relying_party_example/test_telemetry.py`` scans what is recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Final

import segno
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from netid.errors import UsageError, VerificationError
from netid.names import canonical_name
from netid.verifier import Answers, Query
from netid.verifier.http import Result, TransactionStatus, netid_router
from relying_party_example.register import PURPOSES
from relying_party_example.services import ShopServices, build_services
from relying_party_example.session import (
    COOKIE_NAME,
    CheckKind,
    NameCheck,
    PendingCheck,
    SessionCodec,
    ShopSession,
)
from relying_party_example.settings import ShopSettings
from relying_party_example.telemetry import PrivateUrlApp, parameter_prefixes, telemetry_option

__all__ = ["SHOP_NAME", "create_app", "qr_svg"]

SHOP_NAME: Final = "示例商城 Example Shop"
HERE: Final = Path(__file__).resolve().parent
MAX_TYPED_NAME: Final = 64
MAX_DYNAMIC_QR: Final = 4096
#: where each check leads once answered
_NEXT: Final[dict[CheckKind, str]] = {"signin": "/account", "age": "/age", "name": "/name"}
_TITLES: Final[dict[CheckKind, str]] = {
    "signin": "Sign in with NetID",
    "age": "Prove you are over 18",
    "name": "Confirm your real name",
}
_OPEN: Final = frozenset({TransactionStatus.PENDING, TransactionStatus.FETCHED})
_SECURITY_HEADERS: Final = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
]

log = logging.getLogger("relying_party_example")
access_log = logging.getLogger("relying_party_example.access")


def qr_svg(text: str, *, title: str) -> Markup:
    """``text`` as a QR code, an inline SVG that scales with CSS (segno chooses the version; byte mode)."""
    svg = segno.make(text, micro=False).svg_inline(
        scale=4, border=2, dark="#111", light="#fff", title=title, svgclass="qr", omitsize=True
    )
    return Markup(svg)  # noqa: S704 - segno's own SVG; the title is escaped by segno


class _SecurityHeaders:
    """Adds a strict Content-Security-Policy and friends to every response (no inline script or style)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class _AccessLog:
    """One log line per request: method, path and status — never the query string (a same-device
    callback's ``response_code`` is in it) or a body. Replaces uvicorn's access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            access_log.info(
                f"{scope['method']} {scope['path']} {status}",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )


def _failure_text(code: str | None) -> tuple[str, str]:
    """(title, explanation) of a failed check for the customer, from the transaction's error code."""
    if code == "wallet:access_denied":
        return "You declined", "You said no in your wallet, so the shop learned nothing. You can try again."
    if code is not None and code.startswith("wallet:"):
        return "Your wallet could not answer", f"Your wallet reported {code.removeprefix('wallet:')!r}."
    if code in ("nonce", "nonce_reused", "aud", "kb_iat", "sd_hash"):
        return (
            "That answer was not for this request",
            "The answer your wallet sent was made for another request: a copied or replayed response is "
            f"refused. Nothing was recorded. (code: {code})",
        )
    if code in ("status_revoked",):
        return "That credential was revoked", "The issuer has revoked the credential your wallet used."
    if code in ("jwks_unavailable", "status_unavailable"):
        return "The shop could not reach the issuer", f"Try again in a moment. (code: {code})"
    return "That answer could not be verified", f"Nothing was recorded. (code: {code or 'unknown'})"


def create_app(
    settings: ShopSettings,
    *,
    services: ShopServices | None = None,
    telemetry: Mapping[str, Any] | None = None,
) -> FastAPI:
    """The shop, configured by ``settings``; ``services`` (default: :func:`build_services` of the
    settings) gives tests their own relying party, counter and clock. ``telemetry`` is FastAPI's
    OpenTelemetry configuration (``fastapi.telemetry.TelemetryConfig``, FastAPI 0.165 and later); by
    default FastAPI uses the process's global providers and records nothing while none is configured.
    Either way, what it records of a URL holds no ``response_code`` and no transaction id
    (:mod:`~relying_party_example.telemetry`)."""
    services = services if services is not None else build_services(settings)
    rp = services.rp
    clock = services.clock
    codec = SessionCodec(settings.session_secret, max_age=settings.session_max_age, clock=clock)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    secure_cookie = rp.base_url.startswith("https://")
    callback_uri = f"{rp.base_url}/check/callback"

    router = netid_router(rp)
    app = PrivateUrlApp(
        # the router's path parameters are transaction ids: telemetry sees /netid/request/REDACTED
        hidden_paths=parameter_prefixes(router.routes),
        title="Example Shop — a NetID relying party",
        docs_url=None,
        redoc_url=None,
        **telemetry_option(telemetry),
    )
    app.state.services = services
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(_AccessLog)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # --- helpers -----------------------------------------------------------------------------------

    def session_of(request: Request) -> ShopSession:
        return codec.loads(request.cookies.get(COOKIE_NAME))

    def keep(response: Response, session: ShopSession) -> Response:
        response.set_cookie(
            COOKIE_NAME,
            codec.dumps(session),
            max_age=settings.session_max_age,
            path="/",
            secure=secure_cookie,
            httponly=True,
            samesite="lax",
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def page(
        request: Request, name: str, session: ShopSession, status_code: int = 200, **context: Any
    ) -> Response:
        response = templates.TemplateResponse(
            request,
            name,
            {"session": session, "shop_name": SHOP_NAME, **context},
            status_code=status_code,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def redirect(url: str, session: ShopSession | None = None) -> Response:
        response = RedirectResponse(url, status_code=303)
        return keep(response, session) if session is not None else response

    def error_page(
        request: Request, session: ShopSession, status_code: int, title: str, text: str
    ) -> Response:
        response = page(request, "error.html", session, status_code, title=title, text=text)
        return keep(response, session)

    def start(session: ShopSession, kind: CheckKind, typed_name: str | None = None) -> Response:
        if kind == "signin":
            query = Query(purpose=PURPOSES["signin"], want_subject=True, doc_valid=True)
        elif kind == "age":
            query = Query(purpose=PURPOSES["age"], age_over=18)
        else:
            query = Query(purpose=PURPOSES["name"], name_equals=typed_name)
        cross = rp.start(query)
        same = rp.start(query, redirect_uri=callback_uri)
        log.info("check started", extra={"kind": kind, "tx": cross.id, "same_device_tx": same.id})
        return redirect("/check", session.with_pending(PendingCheck(kind, cross.id, same.id, typed_name)))

    def apply(session: ShopSession, pending: PendingCheck, answers: Answers) -> ShopSession:
        """The session with what the shop learned from one answered check."""
        predicates = dict(answers.predicates)
        log.info("check answered", extra={"kind": pending.kind, "answers": str(predicates)})
        cleared = session.with_pending(None)
        if pending.kind == "signin":
            level = answers.assurance
            return replace(
                cleared,
                subject=answers.subject,
                assurance={"level": level.level, "chip_auth": level.chip_auth, "mode": level.mode},
                doc_valid=predicates.get("doc_valid"),
            )
        if pending.kind == "age":
            return replace(cleared, age_over_18=predicates.get("age_over_18", False))
        match = predicates.get("name_equals", False)
        return replace(cleared, name_check=NameCheck(pending.typed_name or "", match))

    def finish(
        request: Request, session: ShopSession, pending: PendingCheck, result: Result | None, tx_id: str
    ) -> Response:
        cleared = session.with_pending(None)
        if result is None or result.status is TransactionStatus.EXPIRED:
            log.info("check expired", extra={"kind": pending.kind, "tx": tx_id})
            return error_page(
                request,
                cleared,
                410,
                "This request expired",
                "Your wallet did not answer in time, so nothing was recorded. Start again for a new code.",
            )
        if result.status in _OPEN:
            return redirect("/check")
        if result.status is TransactionStatus.FAILED:
            log.info("check failed", extra={"kind": pending.kind, "tx": tx_id, "code": result.error})
            title, text = _failure_text(result.error)
            return error_page(request, cleared, 400, title, text)
        if result.answers is None:  # same-device, and the response code did not match
            log.info("check refused: response code", extra={"kind": pending.kind, "tx": tx_id})
            return error_page(
                request,
                cleared,
                400,
                "This link does not match your request",
                "The link your wallet opened is not the answer to this browser's request.",
            )
        return redirect(_NEXT[pending.kind], apply(session, pending, result.answers))

    # --- pages -------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        return page(request, "home.html", session_of(request))

    @app.post("/signin")
    def sign_in(request: Request) -> Response:
        session = session_of(request)
        if session.signed_in:
            return redirect("/account")
        return start(session, "signin")

    @app.post("/signout")
    def sign_out(request: Request) -> Response:
        return redirect("/", ShopSession())

    @app.get("/account", response_class=HTMLResponse)
    def account(request: Request) -> Response:
        return page(request, "account.html", session_of(request))

    @app.get("/age", response_class=HTMLResponse)
    def age(request: Request) -> Response:
        session = session_of(request)
        if session.age_over_18 is True:
            return page(request, "cellar.html", session)
        if session.age_over_18 is False:
            return page(request, "age_refused.html", session, 403)
        return page(request, "age_gate.html", session)

    @app.post("/age")
    def age_check(request: Request) -> Response:
        return start(session_of(request), "age")

    @app.get("/name", response_class=HTMLResponse)
    def name(request: Request) -> Response:
        return page(request, "name.html", session_of(request), max_length=MAX_TYPED_NAME)

    @app.post("/name")
    def name_check(request: Request, name: Annotated[str, Form()] = "") -> Response:
        session = session_of(request)
        typed = name.strip()
        problem = None
        if not typed or len(typed) > MAX_TYPED_NAME:
            problem = f"Type your name (1 to {MAX_TYPED_NAME} characters)."
        else:
            try:
                canonical_name(typed)
                Query(purpose=PURPOSES["name"], name_equals=typed)
            except UsageError:
                problem = "That is not a name the shop can ask about."
        if problem is not None:
            return page(
                request, "name.html", session, 400, problem=problem, typed=typed, max_length=MAX_TYPED_NAME
            )
        return start(session, "name", typed)

    # --- the pending check -------------------------------------------------------------------------

    @app.get("/check", response_class=HTMLResponse)
    def check(request: Request) -> Response:
        session = session_of(request)
        pending = session.pending
        if pending is None:
            return redirect("/")
        cross, same = rp.transaction(pending.cross), rp.transaction(pending.same)
        if cross is None or same is None or cross.status_at(clock()) not in _OPEN:
            return redirect("/check/done")
        return page(
            request,
            "check.html",
            session,
            kind=pending.kind,
            title=_TITLES[pending.kind],
            purpose=cross.request.purpose,
            qr=qr_svg(cross.qr_text, title="NetID request"),
            request_uri=cross.qr_text,
            same_device_uri=same.qr_text,
            seconds_left=max(cross.request.exp - clock(), 0),
        )

    @app.get("/check/status")
    def check_status(request: Request) -> JSONResponse:
        pending = session_of(request).pending
        result = rp.result(pending.cross) if pending is not None else None
        status = "none" if pending is None else "expired" if result is None else result.status.value
        kind = pending.kind if pending is not None else None
        return JSONResponse({"status": status, "kind": kind}, headers={"Cache-Control": "no-store"})

    @app.get("/check/done")
    def check_done(request: Request) -> Response:
        session = session_of(request)
        pending = session.pending
        if pending is None:
            return redirect("/")
        return finish(request, session, pending, rp.result(pending.cross), pending.cross)

    @app.get("/check/callback")
    def check_callback(request: Request, response_code: str | None = None) -> Response:
        session = session_of(request)
        pending = session.pending
        if pending is None:
            return error_page(
                request,
                session,
                409,
                "This link was already used",
                "This browser has no request waiting for an answer: the link was used already, or the "
                "request was started in another browser. Start again here.",
            )
        if response_code is None:  # the wallet's redirect after an error response: read the failure
            return finish(request, session, pending, rp.result(pending.same), pending.same)
        result = rp.result(pending.same, response_code=response_code)
        return finish(request, session, pending, result, pending.same)

    # --- in person ---------------------------------------------------------------------------------

    @app.get("/counter", response_class=HTMLResponse)
    def counter(request: Request) -> Response:
        desk = services.counter.current()
        return page(
            request,
            "counter.html",
            session_of(request),
            counter_id=services.counter.counter_id,
            qr=qr_svg(desk.to_qr_text(), title="NetID counter"),
            qr_text=desk.to_qr_text(),
            expires_at=desk.exp,
        )

    @app.post("/counter", response_class=HTMLResponse)
    def counter_check(request: Request, qr: Annotated[str, Form()] = "") -> Response:
        session = session_of(request)
        text = qr.strip()
        if not text or len(text) > MAX_DYNAMIC_QR:
            return page(request, "counter_result.html", session, 400, verdict=None, code="malformed")
        try:
            answers = services.counter.check(text)
        except VerificationError as exc:
            log.info("counter check refused", extra={"code": exc.code})
            return page(request, "counter_result.html", session, 400, verdict=None, code=exc.code)
        verdict = answers.predicates.get("age_over_18", False)
        log.info("counter check answered", extra={"answers": str(dict(answers.predicates))})
        return page(request, "counter_result.html", session, verdict=verdict, assurance=answers.assurance)

    # --- JSON --------------------------------------------------------------------------------------

    @app.get("/api/session")
    def api_session(request: Request) -> JSONResponse:
        session = session_of(request)
        body = {
            "signed_in": session.signed_in,
            "subject": session.subject,
            "assurance": dict(session.assurance) if session.assurance is not None else None,
            "answers": {
                "doc_valid": session.doc_valid,
                "age_over_18": session.age_over_18,
                "name_equals": session.name_check.match if session.name_check is not None else None,
            },
            "pending": session.pending.kind if session.pending is not None else None,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
