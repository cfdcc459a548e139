"""Operations: liveness, readiness, and the explanation behind every problem ``type``.

Liveness and the problem types are ``async def``: they touch nothing but memory, so they answer from the
event loop without a hop to a worker thread (liveness thus says the event loop answers). Readiness opens a
database connection and asks the key store, so it stays a ``def``, run in a worker thread.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from issuer_service.api.deps import ContextDep
from issuer_service.core.problems import PROBLEM_TYPES, Problem

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database and the key store are reachable")
def readyz(context: ContextDep) -> dict[str, str]:
    try:
        with context.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # the driver's errors: any of them means "not ready"
        raise Problem("unavailable", "the database is not reachable") from exc
    try:
        context.keystore.check()
        context.keys.ring()
    except Exception as exc:  # the key store's or the HSM library's errors
        raise Problem("unavailable", "the key store is not usable") from exc
    return {"status": "ready"}


@router.get("/problems/{code}", summary="What a problem type means")
async def problem_type(code: str) -> dict[str, Any]:
    if code not in PROBLEM_TYPES:
        raise Problem("not_found", "no such problem type")
    status, title = PROBLEM_TYPES[code]
    return {"type": f"/problems/{code}", "title": title, "status": status}
