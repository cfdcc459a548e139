"""Dependencies routes declare with ``Annotated`` aliases: the process context and one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.db.base import transaction

__all__ = ["ContextDep", "SessionDep"]


def _context(request: Request) -> IssuerContext:
    context: IssuerContext = request.app.state.context
    return context


def _session(request: Request) -> Iterator[Session]:
    # One transaction per request: committed after the handler returns, rolled back if it raises, so a
    # failed request leaves nothing half-written.
    with transaction(_context(request).sessions) as session:
        yield session


ContextDep = Annotated[IssuerContext, Depends(_context)]
SessionDep = Annotated[Session, Depends(_session)]
