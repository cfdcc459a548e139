"""The relying-party library: build OpenID4VP requests, verify presentations, get yes/no answers.

Typical use::

    trust = IssuerTrust(fetch=get_issuer_jwks, clock=clock)
    verifier = Verifier(trust, status=CachedStatusLists(fetch_status, trust, clock=clock),
                        replay_cache=InMemoryReplayCache(clock), clock=clock)
    req = build_request(Query(purpose="age check", age_over=18), rp_key=key, rp_certificate=cert,
                        response_uri="https://shop.example/netid/response", now=clock())
    show_qr(req.to_uri())
    ...
    answers = verifier.verify(vp_token, req)      # VerificationError on any failure
    if answers["age_over_18"]: ...
"""

from netid.verifier.answers import Answers, Assurance, AuthMode
from netid.verifier.dcql import Predicate
from netid.verifier.in_person import (
    CounterRequest,
    CounterVerifier,
    build_counter_request,
    open_counter_request,
)
from netid.verifier.replay import InMemoryReplayCache, ReplayCache
from netid.verifier.request import (
    PresentationRequest,
    Query,
    RpCertificate,
    build_request,
    issue_rp_certificate,
    open_request,
    parse_rp_certificate,
)
from netid.verifier.status import CachedStatusLists, StatusListSource
from netid.verifier.trust import IssuerTrust
from netid.verifier.verify import Verifier

__all__ = [
    "Answers",
    "Assurance",
    "AuthMode",
    "CachedStatusLists",
    "CounterRequest",
    "CounterVerifier",
    "InMemoryReplayCache",
    "IssuerTrust",
    "Predicate",
    "PresentationRequest",
    "Query",
    "ReplayCache",
    "RpCertificate",
    "StatusListSource",
    "Verifier",
    "build_counter_request",
    "build_request",
    "issue_rp_certificate",
    "open_counter_request",
    "open_request",
    "parse_rp_certificate",
]
