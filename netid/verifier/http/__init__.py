"""A relying party over HTTP: transactions, the request object at a ``request_uri``, the wallet's
``direct_post`` / ``direct_post.jwt`` response, and a FastAPI router that mounts it all.

- :class:`RelyingParty` — the service, framework-free (:mod:`netid.verifier.http.relying_party`);
- :func:`netid_router` — its FastAPI routes (:mod:`netid.verifier.http.router`; needs the ``rp``
  extra: ``pip install 'netid[rp]'``);
- :class:`SqlTransactionStore` — transactions in a SQLAlchemy database, for several workers
  (:mod:`netid.verifier.http.sql`; the ``rp`` extra too).

The router and the SQL store are loaded on first use, so ``import netid.verifier.http`` needs neither
FastAPI nor SQLAlchemy::

    from netid.verifier.http import RelyingParty, netid_router
    from netid.verifier.remote import verifier_for_issuer

    rp = RelyingParty(base_url="https://shop.example", signing_key=key, certificate=cert,
                      encryption_key=enc_key, verifier=verifier_for_issuer("https://issuer.example"))
    app.include_router(netid_router(rp))
    tx = rp.start(Query(purpose="age check", age_over=18))   # show tx.qr_text; keep tx.id in the session
    rp.result(tx.id)                                          # Result(status, answers, error)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netid._lazy import lazy_exports
from netid.verifier.http.relying_party import (
    DEFAULT_MAX_BODY_BYTES,
    RelyingParty,
    Result,
    TransactionError,
)
from netid.verifier.transactions import (
    InMemoryTransactionStore,
    Transaction,
    TransactionEvent,
    TransactionStatus,
    TransactionStore,
)

if TYPE_CHECKING:
    from netid.verifier.http.router import netid_router, problem_response
    from netid.verifier.http.sql import SqlTransactionStore

_LAZY = {
    "netid_router": "netid.verifier.http.router",
    "problem_response": "netid.verifier.http.router",
    "SqlTransactionStore": "netid.verifier.http.sql",
}

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "InMemoryTransactionStore",
    "RelyingParty",
    "Result",
    "SqlTransactionStore",
    "Transaction",
    "TransactionError",
    "TransactionEvent",
    "TransactionStatus",
    "TransactionStore",
    "netid_router",
    "problem_response",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
