"""Request limits: body size for every request, a rate limit on starting enrollments.

**Body size** (:class:`BodySizeLimitMiddleware`, ``settings.max_body_bytes``). A request whose
``Content-Length`` is larger is answered ``413`` (problem ``too_large``) before any of its body is read. A
body without a length (``Transfer-Encoding: chunked``) is read here, counted as it arrives, and answered
``413`` as soon as it passes the limit; one that fits is handed on whole. Either way no handler ever
sees more than the limit, and a client cannot make the process buffer more than that.

**Rate limit** (:class:`RateLimitMiddleware`, ``settings.enrollment_rate_per_minute``). ``POST
/enrollment/start`` is limited per client address with a token bucket: a burst of ``rate`` starts, then
``rate`` per minute. An IPv6 client is keyed by its /64, which one subscriber usually holds whole.
Answered ``429`` (problem ``rate_limited``) with ``Retry-After``. The buckets live in this process's
memory: each issuer node limits on its own, so ``N`` nodes behind a load balancer let through up to
``N × rate`` per address (docs/issuer.md). Behind a reverse proxy the client address is the proxy's unless
uvicorn is told to trust its ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS``).

**Concurrency** (:class:`ConcurrencyLimitMiddleware`, ``settings.max_concurrent_requests`` and
``max_queued_requests``). At most that many requests are inside the application at once; the next ones
wait their turn, and beyond the queue they are answered ``503`` (problem ``unavailable``) with
``Retry-After`` at once. This is what keeps an overloaded node working: every request's transaction is
committed by a worker thread after its handler ran, and when all the threads of the pool were taken by
requests waiting for locks that those uncommitted transactions hold, nothing could commit and the node
stalled until the database's timeouts answered 500 to everyone. With fewer requests inside than worker
threads, a commit always finds a thread. Liveness, readiness and metrics are never queued.

**Graceful shutdown** is uvicorn's (``timeout_graceful_shutdown`` in :mod:`issuer_service.cli`): on SIGTERM
it stops accepting connections, lets requests in flight finish, then exits 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from issuer_service.core.problems import problem_response

__all__ = [
    "ENROLLMENT_START",
    "BodySizeLimitMiddleware",
    "ConcurrencyLimitMiddleware",
    "RateLimitMiddleware",
    "TokenBucketLimiter",
]

#: the requests the enrollment rate limit applies to
ENROLLMENT_START: Final = frozenset({("POST", "/enrollment/start")})
#: clients remembered at most (least recently seen forgotten first): bounds the limiter's memory
MAX_CLIENTS: Final = 100_000


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with a ``413`` problem (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            "too_large",
            f"the request body is larger than {self.max_bytes} bytes",
            headers={"Connection": "close"},  # the rest of the body is never read
        )
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            # the server holds the client to its Content-Length, so checking the number is enough
            if declared.strip().isdigit() and int(declared) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # no body at all
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # afterwards: only http.disconnect can come

        await self.app(scope, replay, send)


def client_key(address: str) -> str:
    """The rate-limit key of a client address: itself for IPv4, its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class TokenBucketLimiter:
    """Per-key token buckets: ``capacity`` tokens, refilled at ``rate_per_minute`` per minute.

    Confined to one event loop (the middleware's), so it takes no lock. Remembers at most
    ``max_keys`` keys, forgetting the least recently seen first.
    """

    def __init__(
        self,
        rate_per_minute: int,
        *,
        capacity: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_CLIENTS,
    ) -> None:
        if rate_per_minute < 1:
            raise ValueError("rate_per_minute must be at least 1")
        self.rate = rate_per_minute / 60.0
        self.capacity = float(capacity if capacity is not None else rate_per_minute)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take a token for ``key``: ``0.0`` if one was there, else the seconds until one will be."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class RateLimitMiddleware:
    """Applies ``limiter`` per client address to the ``(method, path)`` pairs in ``routes``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: TokenBucketLimiter,
        routes: Collection[tuple[str, str]] = ENROLLMENT_START,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) in self.routes:
            client = scope.get("client")
            wait = self.limiter.take(client_key(client[0]) if client else "unknown")
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                response = problem_response(
                    "rate_limited",
                    "too many enrollments started from this address; try again later",
                    extra={"retry_after": retry_after},
                    headers={"Retry-After": str(retry_after)},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


#: requests the concurrency limit never queues: operators and orchestrators must see an overloaded node
UNQUEUED_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})


class ConcurrencyLimitMiddleware:
    """At most ``max_in_flight`` requests inside ``app`` at once, ``max_queued`` more waiting; beyond that a
    ``503`` problem with ``Retry-After`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, max_queued: int) -> None:
        if max_in_flight < 1 or max_queued < 0:
            raise ValueError("max_in_flight must be at least 1 and max_queued at least 0")
        self.app = app
        self.max_queued = max_queued
        self._slots = asyncio.Semaphore(max_in_flight)
        self._waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNQUEUED_PATHS:
            await self.app(scope, receive, send)
            return
        if self._slots.locked() and self._waiting >= self.max_queued:
            response = problem_response(
                "unavailable",
                "the issuer is busy; try again shortly",
                extra={"retry_after": 1},
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()
