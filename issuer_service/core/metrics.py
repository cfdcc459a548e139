"""Prometheus metrics at ``/metrics``, in a registry of each app's own (never the process-global one).

What is counted (all names start ``netid_issuer_``):

* ``http_requests_total{method, route, status}`` and ``http_request_duration_seconds{method, route, status}``
  — ``route`` is the route template (``/status/{list_id}``) or ``<unmatched>``, never a raw path;
* ``http_requests_in_progress`` — what a graceful shutdown still waits for;
* ``problems_total{code}`` — every problem document answered, by its stable ``code``;
* ``status_list_fetches_total{status}`` — status list requests (200, 304 from a cache revalidation, 404);
* ``enrollments_total`` and ``credentials_issued_total`` — counted by the services through
  :func:`record_enrollment` and :func:`record_issued`.

Services have no FastAPI imports, so the two ``record_*`` functions find the metrics of the app whose
request is being handled through a context variable that :class:`MetricsMiddleware` sets; called outside
a request (a command, a test of a service alone) they do nothing. No label ever carries personal data.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from issuer_service.core.logging import route_template
from issuer_service.core.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from issuer_service.core.problems import PROBLEM_TYPES

__all__ = ["IssuerMetrics", "MetricsMiddleware", "metrics_endpoint", "record_enrollment", "record_issued"]

STATUS_LIST_ROUTE: Final = "/status/{list_id}"
_MAX_PROBLEM_BODY: Final = 64 * 1024
#: request latency buckets (seconds): an enrollment with a 30-credential batch is tens of milliseconds
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: any other method a client sends is counted as OTHER, so that no client can mint label values
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class IssuerMetrics:
    """The metrics of one app, in their own :class:`~prometheus_client.CollectorRegistry`."""

    def __init__(self, *, instance: str = "", version: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "netid_issuer_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "netid_issuer_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "netid_issuer_http_requests_in_progress", "HTTP requests being handled", registry=r
        )
        self.problems = Counter(
            "netid_issuer_problems", "Problem documents answered, by code", ["code"], registry=r
        )
        self.status_list_fetches = Counter(
            "netid_issuer_status_list_fetches", "Status list requests, by HTTP status", ["status"], registry=r
        )
        self.enrollments = Counter("netid_issuer_enrollments", "Enrollments completed", registry=r)
        self.issued = Counter("netid_issuer_credentials_issued", "Credentials (netcerts) issued", registry=r)
        info = Gauge("netid_issuer_info", "This issuer process", ["instance", "version"], registry=r)
        info.labels(instance=instance, version=version).set(1)

    def observe(self, *, method: str, route: str, status: int, seconds: float, problem: str | None) -> None:
        labels = {"method": method if method in _METHODS else "OTHER", "route": route, "status": str(status)}
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)
        if problem is not None:
            self.problems.labels(code=problem).inc()
        if route == STATUS_LIST_ROUTE:
            self.status_list_fetches.labels(status=str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


_current: contextvars.ContextVar[IssuerMetrics | None] = contextvars.ContextVar("netid_metrics", default=None)


def record_enrollment() -> None:
    """Count one completed enrollment (call it when the enrollment's transaction has committed)."""
    metrics = _current.get()
    if metrics is not None:
        metrics.enrollments.inc()


def record_issued(n: int) -> None:
    """Count ``n`` credentials issued (a batch: its size)."""
    metrics = _current.get()
    if metrics is not None and n > 0:
        metrics.issued.inc(n)


def _problem_code(body: bytes) -> str:
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return "internal"
    return code if isinstance(code, str) and code in PROBLEM_TYPES else "internal"


class MetricsMiddleware:
    """Counts and times every HTTP request by route template and status; reads the ``code`` of problem
    documents (and only of those) from the response body."""

    def __init__(
        self, app: ASGIApp, *, metrics: IssuerMetrics, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.app = app
        self.metrics = metrics
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        _current.set(self.metrics)  # this request's task only: what record_enrollment() finds
        started = self._clock()
        status = 500
        problem_body: bytearray | None = None

        async def observing_send(message: Message) -> None:
            nonlocal status, problem_body
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type" and value.startswith(PROBLEM_MEDIA_TYPE.encode()):
                        problem_body = bytearray()
            elif (
                message["type"] == "http.response.body"
                and problem_body is not None
                and len(problem_body) < _MAX_PROBLEM_BODY
            ):
                problem_body += message.get("body", b"")
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, observing_send)
        except BaseException:
            problem_body = bytearray(b'{"code": "internal"}')
            raise
        finally:
            self.metrics.in_progress.dec()
            self.metrics.observe(
                method=scope["method"],
                route=route_template(scope),
                status=status,
                seconds=self._clock() - started,
                problem=_problem_code(bytes(problem_body)) if problem_body is not None else None,
            )


def metrics_endpoint(metrics: IssuerMetrics) -> Callable[[Request], Response]:
    """The ``/metrics`` handler (Prometheus text format) for ``metrics``."""

    def handler(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return handler
