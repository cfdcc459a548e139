"""What runs on the event loop and what in a worker thread. FastAPI runs every plain ``def`` dependency and
handler in anyio's thread pool: a hop there and back (~0.1-0.2 ms of CPU here) on every request that uses
it. Only code that blocks — the database, the key store — may pay for one."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest

from issuer_service.api import deps
from issuer_service.api.routes import admin
from tests.issuer.conftest import InProcessIssuer

#: requests answered from memory alone (settings, constants), and an admin call refused for its token
FROM_MEMORY = [
    ("/healthz", {}, 200),
    ("/problems/not_found", {}, 200),
    ("/.well-known/openid-credential-issuer", {}, 200),
    ("/.well-known/oauth-authorization-server", {}, 200),
    ("/admin/rps", {"Authorization": "Bearer not-an-administrators-token"}, 401),
]


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """What is sent to a worker thread from now on (Starlette's and FastAPI's thread pool helpers both go
    through ``anyio.to_thread.run_sync``), unwrapped from ``functools.partial``."""
    sent: list[Callable[..., Any]] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sent.append(func.func if isinstance(func, functools.partial) else func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return sent


@pytest.mark.parametrize(("path", "headers", "status"), FROM_MEMORY)
def test_answers_from_memory_never_leave_the_event_loop(
    issuer: InProcessIssuer, hops: list[Callable[..., Any]], path: str, headers: dict[str, str], status: int
) -> None:
    assert issuer.client.get(path, headers=headers).status_code == status
    assert hops == []


def test_only_the_transaction_and_the_handler_take_a_thread(
    issuer: InProcessIssuer, hops: list[Callable[..., Any]]
) -> None:
    # the context, the administrator's authentication and the no-store header run on the event loop
    response = issuer.client.get("/admin/rps", headers=issuer.admin())
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert hops, "the transaction and the handler do run in worker threads"
    assert not {deps._context, deps._admin, admin._no_store} & set(hops)
