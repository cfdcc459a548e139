"""Dependencies routes declare with ``Annotated`` aliases: the process context and one transaction.

A plain ``def`` dependency is run in a worker thread (a hop to anyio's thread pool and back, for every
request that declares it). Only :func:`_session` blocks — it opens and commits a database transaction — so
only it is a ``def``; the others are ``async def`` and run on the event loop, because they do no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.core.security import ADMIN_BEARER, Admin, authenticate_admin
from issuer_service.db.base import transaction

__all__ = ["AdminDep", "ContextDep", "SessionDep"]


def _app_context(request: Request) -> IssuerContext:
    # a plain function, not a dependency: _session (a worker thread) and the async dependencies share it
    context: IssuerContext = request.app.state.context
    return context


async def _context(request: Request) -> IssuerContext:
    return _app_context(request)


def _session(request: Request) -> Iterator[Session]:
    # One transaction per request: committed after the handler returns, rolled back if it raises, so a
    # failed request leaves nothing half-written. Used with scope="function": the commit happens before
    # the response is sent, so a client that gets an answer can rely on it being stored (a token used in
    # the very next request must already be there).
    with transaction(_app_context(request).sessions) as session:
        yield session


async def _admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(ADMIN_BEARER)],
) -> Admin:
    # 401 problem (with WWW-Authenticate) unless the bearer token is a configured administrator's. On the
    # event loop: authenticate_admin only hashes the token and compares it with the configured digests.
    token = credentials.credentials if credentials is not None else None
    return authenticate_admin(token, _app_context(request).settings.admin_tokens)


ContextDep = Annotated[IssuerContext, Depends(_context)]
SessionDep = Annotated[Session, Depends(_session, scope="function")]
#: the authenticated administrator (``issuer_service.core.security``); declares the OpenAPI scheme
AdminDep = Annotated[Admin, Depends(_admin)]
