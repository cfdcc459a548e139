"""What a wallet and a relying party both speak (OpenID4VP 1.0 with DCQL, NetID profile).

The RP access certificate (:mod:`~netid.oid4vp.certificate`), the predicates and their DCQL form
(:mod:`~netid.oid4vp.dcql`), holder-authentication modes (:mod:`~netid.oid4vp.modes`), signed requests
in both modes: online (:mod:`~netid.oid4vp.request`) and in person (:mod:`~netid.oid4vp.in_person`), and
the online response's ``vp_token`` (:mod:`~netid.oid4vp.response`). The
relying party's own code (building requests, verifying responses) is :mod:`netid.verifier`; the holder's
is :mod:`netid.wallet`. Neither imports the other: both import this package.
"""

from netid.oid4vp.certificate import RpCertificate, parse_rp_certificate
from netid.oid4vp.dcql import Predicate
from netid.oid4vp.in_person import CounterRequest, open_counter_request
from netid.oid4vp.modes import MODES, AuthMode
from netid.oid4vp.request import PresentationRequest, RequestTerms, open_request
from netid.oid4vp.response import presentation_from_vp_token, vp_token_for

__all__ = [
    "MODES",
    "AuthMode",
    "CounterRequest",
    "Predicate",
    "PresentationRequest",
    "RequestTerms",
    "RpCertificate",
    "open_counter_request",
    "open_request",
    "parse_rp_certificate",
    "presentation_from_vp_token",
    "vp_token_for",
]
