"""``create_app(settings)``: the issuer as a FastAPI application, with no import-time globals.

Routers are thin (``api/routes/``): they parse, call a service (``services/``, no FastAPI imports) inside
one database transaction, and shape the answer. Every error is an RFC 9457 problem document
(:mod:`issuer_service.core.problems`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from issuer_service.api.routes import admin, devices, enrollment, oid4vci, ops, status, wellknown
from issuer_service.core.config import Settings
from issuer_service.core.context import IssuerContext
from issuer_service.core.limits import (
    BodySizeLimitMiddleware,
    ConcurrencyLimitMiddleware,
    RateLimitMiddleware,
    TokenBucketLimiter,
)
from issuer_service.core.logging import AccessLogMiddleware
from issuer_service.core.metrics import IssuerMetrics, MetricsMiddleware, metrics_endpoint
from issuer_service.core.problems import install_problem_handlers
from issuer_service.db.base import make_engine, make_session_factory, transaction
from issuer_service.db.migrate import upgrade
from issuer_service.keys import KeyStore, open_keystore
from issuer_service.services.housekeeping import PurgeCounts, purge_expired
from issuer_service.services.keys import KeyService
from issuer_service.services.trust import load_key_attestation_policy, load_trust_store

__all__ = ["build_context", "create_app"]

API_VERSION = "1.0"

log = logging.getLogger("issuer_service")


def build_context(
    settings: Settings,
    *,
    keystore: KeyStore | None = None,
    clock: Callable[[], int] | None = None,
    rng: Callable[[int], bytes] | None = None,
) -> IssuerContext:
    """Open the database and the key store ``settings`` describe (migrating and creating keys first when
    ``migrate_on_start`` is set)."""
    if settings.migrate_on_start:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    store = keystore if keystore is not None else open_keystore(settings)
    reader = make_session_factory(make_engine(settings.database_url, read_only=True))
    keys = KeyService(store, sessions, netcert_alg=settings.netcert_alg, reader=reader)
    if settings.migrate_on_start:
        keys.ensure_keys()
    context = IssuerContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        keystore=store,
        keys=keys,
        trust_store=load_trust_store(Path(settings.csca_path) if settings.csca_path else None),
        key_attestation=load_key_attestation_policy(settings),
    )
    if clock is not None:
        context.clock = clock
    if rng is not None:
        context.rng = rng
    return context


def purge_once(context: IssuerContext) -> PurgeCounts:
    """One housekeeping pass (:mod:`issuer_service.services.housekeeping`) in its own transaction."""
    with transaction(context.sessions) as session:
        counts = purge_expired(session, context)
    if counts.total:
        log.info("expired rows purged", extra={"purged": counts.total})
    return counts


async def _purge_periodically(context: IssuerContext, interval: int) -> None:
    """Housekeeping every ``interval`` seconds, off the event loop; a failure is logged and retried at the
    next interval (the rows only wait longer)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await anyio.to_thread.run_sync(purge_once, context)
        except Exception as exc:  # the database was away: the next pass catches up
            log.warning("purge failed", extra={"error": type(exc).__name__})


def _telemetry_option(telemetry: Mapping[str, Any] | None) -> dict[str, Any]:
    # only when given: FastAPI before 0.165 has no such keyword
    return {"telemetry": dict(telemetry)} if telemetry is not None else {}


def create_app(
    settings: Settings,
    *,
    context: IssuerContext | None = None,
    telemetry: Mapping[str, Any] | None = None,
) -> FastAPI:
    """The issuer application. ``context`` is built from ``settings`` when the app starts unless given
    (tests pass one with a controllable clock). ``telemetry`` is FastAPI's OpenTelemetry configuration
    (``fastapi.telemetry.TelemetryConfig``, FastAPI 0.165 and later: providers, what to record); by
    default FastAPI uses the process's global providers, and records nothing while none is configured.
    What it records (routes, paths, status codes, exception types) carries no personal data:
    ``tests/issuer/test_issuer_privacy.py`` scans it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = context if context is not None else build_context(settings)
        app.state.context = ctx
        interval = settings.purge_interval
        purger = asyncio.create_task(_purge_periodically(ctx, interval)) if interval else None
        try:
            yield
        finally:
            if purger is not None:
                purger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purger
            ctx.keys.close()
            ctx.engine.dispose()

    app = FastAPI(
        title="NetID issuer",
        version=API_VERSION,
        summary="Enrollment, network numbers, netcert batches over OpenID4VCI 1.0, RP registry, status lists",
        lifespan=lifespan,
        # the OpenAPI document is also exported to specs/openapi.json (tests fail when it is stale)
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        **_telemetry_option(telemetry),
    )
    app.state.instance = secrets.token_hex(4)
    install_problem_handlers(app)
    # operations (outermost last): request id and access log, metrics, then the limits
    metrics = app.state.metrics = IssuerMetrics(instance=app.state.instance, version=API_VERSION)
    app.add_middleware(
        ConcurrencyLimitMiddleware,
        max_in_flight=settings.max_concurrent_requests,
        max_queued=settings.max_queued_requests,
    )
    app.add_middleware(RateLimitMiddleware, limiter=TokenBucketLimiter(settings.enrollment_rate_per_minute))
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(AccessLogMiddleware)
    app.add_route("/metrics", metrics_endpoint(metrics), include_in_schema=False)
    for router in (wellknown, enrollment, oid4vci, status, devices, admin, ops):
        app.include_router(router.router)
    return app
