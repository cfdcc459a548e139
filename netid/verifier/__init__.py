"""The relying-party library: build OpenID4VP requests, verify presentations, get yes/no answers.

Typical use::

    trust = IssuerTrust(issuer="https://issuer.example", fetch=get_issuer_jwks, clock=clock)
    verifier = Verifier(trust, status=CachedStatusLists(fetch_status, trust, clock=clock), clock=clock)
    req = build_request(Query(purpose="age check", age_over=18), rp_key=key, rp_certificate=cert,
                        response_uri="https://shop.example/netid/response", now=clock())
    show_qr(req.to_uri())
    ...
    answers = verifier.verify(vp_token, req)      # VerificationError on any failure
    if answers["age_over_18"]: ...

Over HTTP (loaded on first use, so ``import netid.verifier`` stays cheap): :func:`verifier_for_issuer`
builds the verifier from the issuer's URL (JWKS and status lists fetched with httpx, cached by their
headers; :mod:`netid.verifier.remote`), and :class:`RelyingParty` with :func:`netid_router` serve
requests by ``request_uri`` and take ``direct_post`` / ``direct_post.jwt`` responses, keeping each
:class:`Transaction` in a :class:`TransactionStore` (:mod:`netid.verifier.http`; FastAPI and SQLAlchemy
come with the ``rp`` extra)::

    rp = RelyingParty(base_url="https://shop.example", signing_key=key, certificate=cert,
                      verifier=verifier_for_issuer("https://issuer.example"))
    app.include_router(netid_router(rp))
    tx = rp.start(Query(purpose="age check", age_over=18))      # show tx.qr_text
    ...
    rp.result(tx.id).answers                                     # once the wallet has answered

Everything here is what an RP runs; what it shares with wallets (certificates, request objects, DCQL) is
:mod:`netid.oid4vp`, and the issuer's side is :mod:`netid.issuance`, which this package never imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netid._lazy import lazy_exports
from netid.credentials.status_source import CachedStatusLists, StatusListSource
from netid.credentials.trust import IssuerTrust
from netid.oid4vp.certificate import RpCertificate
from netid.oid4vp.dcql import Predicate
from netid.oid4vp.in_person import CounterRequest
from netid.oid4vp.modes import AuthMode
from netid.oid4vp.request import PresentationRequest
from netid.policy import DEFAULT_POLICY, Policy
from netid.verifier.answers import Answers, Assurance
from netid.verifier.build import build_counter_request, build_request
from netid.verifier.query import Query
from netid.verifier.replay import InMemoryReplayCache, ReplayCache
from netid.verifier.verify import CounterVerifier, Verifier

if TYPE_CHECKING:
    from netid.verifier.http import (
        InMemoryTransactionStore,
        RelyingParty,
        Result,
        SqlTransactionStore,
        Transaction,
        TransactionError,
        TransactionStatus,
        TransactionStore,
        netid_router,
    )
    from netid.verifier.remote import HttpCache, HttpJwksFetcher, HttpStatusFetcher, verifier_for_issuer

#: loaded on first use: httpx, FastAPI and SQLAlchemy cost more to import than the rest of the package
_LAZY = {
    "HttpCache": "netid.verifier.remote",
    "HttpJwksFetcher": "netid.verifier.remote",
    "HttpStatusFetcher": "netid.verifier.remote",
    "verifier_for_issuer": "netid.verifier.remote",
    "InMemoryTransactionStore": "netid.verifier.http",
    "RelyingParty": "netid.verifier.http",
    "Result": "netid.verifier.http",
    "SqlTransactionStore": "netid.verifier.http",
    "Transaction": "netid.verifier.http",
    "TransactionError": "netid.verifier.http",
    "TransactionStatus": "netid.verifier.http",
    "TransactionStore": "netid.verifier.http",
    "netid_router": "netid.verifier.http",
}

__all__ = [
    "DEFAULT_POLICY",
    "Answers",
    "Assurance",
    "AuthMode",
    "CachedStatusLists",
    "CounterRequest",
    "CounterVerifier",
    "HttpCache",
    "HttpJwksFetcher",
    "HttpStatusFetcher",
    "InMemoryReplayCache",
    "InMemoryTransactionStore",
    "IssuerTrust",
    "Policy",
    "Predicate",
    "PresentationRequest",
    "Query",
    "RelyingParty",
    "ReplayCache",
    "Result",
    "RpCertificate",
    "SqlTransactionStore",
    "StatusListSource",
    "Transaction",
    "TransactionError",
    "TransactionStatus",
    "TransactionStore",
    "Verifier",
    "build_counter_request",
    "build_request",
    "netid_router",
    "verifier_for_issuer",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
