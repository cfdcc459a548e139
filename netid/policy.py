"""One place for the time and size limits every NetID check applies.

A verifier, a wallet and an issuer each compare times (clock skew), bound ages (a presentation, a request,
a status list) and bound sizes. Those numbers are policy, not protocol, and they must agree across the
code, so they live in one frozen object instead of being repeated as defaults. Pass a :class:`Policy` to
:class:`~netid.verifier.Verifier`, :class:`~netid.verifier.CounterVerifier`, the wallet and
:class:`~netid.credentials.status_source.CachedStatusLists`; every one of them defaults to
:data:`DEFAULT_POLICY`.

>>> from netid.policy import DEFAULT_POLICY, Policy
>>> DEFAULT_POLICY.leeway
60
>>> strict = Policy(leeway=10, max_presentation_age=120)
>>> strict.max_presentation_age
120
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from netid.errors import UsageError

__all__ = ["DEFAULT_POLICY", "Policy"]


@dataclass(frozen=True, slots=True)
class Policy:
    """Time (seconds) and size (bytes) limits: positive integers (``leeway`` may be 0).

    ``leeway``
        clock skew tolerated either side when comparing ``iat``/``nbf``/``exp`` with the local clock.
    ``max_presentation_age``
        oldest KB-JWT ``iat`` an online verifier accepts, and how long after a request's ``exp`` a
        response to it is still taken (a wallet may have fetched the request just before it expired).
    ``max_request_lifetime``
        longest ``exp - iat`` a wallet accepts in an online request object: a request is a one-time
        challenge, and a long-lived one is a replayable phishing lure.
    ``max_counter_request_lifetime``
        the same for an in-person counter QR, which a desk may show all day.
    ``in_person_window``
        accepted distance between a dynamic QR's KB-JWT ``iat`` and the counter's clock.
    ``max_status_token_age``
        oldest Status List Token (``now - iat``) accepted, whether or not it has an ``exp``.
    ``max_presentation_bytes``
        largest ``vp_token`` / presentation a verifier parses; anything larger is refused before any
        hashing or signature work.
    ``max_request_bytes``
        largest request object a wallet parses.
    """

    leeway: int = 60
    max_presentation_age: int = 300
    max_request_lifetime: int = 3600
    max_counter_request_lifetime: int = 7 * 86_400
    in_person_window: int = 30
    max_status_token_age: int = 86_400
    max_presentation_bytes: int = 16_384
    max_request_bytes: int = 16_384

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            least = 0 if f.name == "leeway" else 1
            if type(value) is not int or value < least:
                raise UsageError(f"Policy.{f.name} must be an integer >= {least}, got {value!r}")


#: The defaults every component uses unless given another :class:`Policy`.
DEFAULT_POLICY = Policy()
