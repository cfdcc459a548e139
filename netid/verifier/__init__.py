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

Everything here is what an RP runs; what it shares with wallets (certificates, request objects, DCQL) is
:mod:`netid.oid4vp`, and the issuer's side is :mod:`netid.issuance`, which this package never imports.
"""

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

__all__ = [
    "DEFAULT_POLICY",
    "Answers",
    "Assurance",
    "AuthMode",
    "CachedStatusLists",
    "CounterRequest",
    "CounterVerifier",
    "InMemoryReplayCache",
    "IssuerTrust",
    "Policy",
    "Predicate",
    "PresentationRequest",
    "Query",
    "ReplayCache",
    "RpCertificate",
    "StatusListSource",
    "Verifier",
    "build_counter_request",
    "build_request",
]
