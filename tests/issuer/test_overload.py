"""An overloaded node queues requests and sheds what it cannot queue; it never stalls."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from issuer_service.core.limits import ConcurrencyLimitMiddleware
from tests.issuer.conftest import InProcessIssuer


def _app(release: asyncio.Event, inside: list[int]) -> ConcurrencyLimitMiddleware:
    async def slow(request: Request) -> JSONResponse:
        inside.append(1)
        await release.wait()
        return JSONResponse({"ok": True})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/work", slow, methods=["POST"]), Route("/healthz", healthz)])
    return ConcurrencyLimitMiddleware(app, max_in_flight=2, max_queued=2)


def test_requests_beyond_the_queue_are_shed_with_retry_after() -> None:
    async def scenario() -> tuple[list[int], int, int]:
        release = asyncio.Event()
        inside: list[int] = []
        transport = httpx.ASGITransport(app=_app(release, inside))
        async with httpx.AsyncClient(transport=transport, base_url="http://issuer.test") as client:
            tasks = [asyncio.create_task(client.post("/work")) for _ in range(6)]
            for _ in range(50):  # until the two slots are taken and two requests wait
                await asyncio.sleep(0.01)
                if len(inside) == 2 and sum(t.done() for t in tasks) == 2:
                    break
            shed = [t.result() for t in tasks if t.done()]
            assert [r.status_code for r in shed] == [503, 503]
            assert all(r.headers["retry-after"] == "1" for r in shed)
            assert shed[0].json()["code"] == "unavailable"
            assert len(inside) == 2  # never more than max_in_flight inside the application
            health = await client.get("/healthz")  # never queued behind the work
            release.set()
            done = await asyncio.gather(*[t for t in tasks if not t.done()])
            return inside, health.status_code, sum(r.status_code == 200 for r in done)

    inside, health, served = asyncio.run(scenario())
    assert health == 200 and served == 4 and len(inside) == 4


def test_the_issuer_app_limits_concurrency(issuer: InProcessIssuer) -> None:
    settings = issuer.settings
    assert settings.max_concurrent_requests < 40  # below anyio's default worker threads: commits find one
    assert any(m.cls is ConcurrencyLimitMiddleware for m in issuer.client.app.user_middleware)  # type: ignore[attr-defined]
