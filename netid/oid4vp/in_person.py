"""In person (offline counter): a signed counter QR in, a short-lived dynamic QR back.

A counter — a hotel desk, a ticket gate — is a registered RP that may be offline, so it cannot hand out
a fresh server nonce per holder. Instead (``specs/protocol.md`` §9):

1. The counter shows a **counter request** (built by :func:`netid.verifier.build_counter_request`): a JWS
   signed with the key of its RP access certificate, which travels in the ``jwt`` header exactly as for
   an online request, but with its own ``typ`` (``netid-counter+jwt``) so neither kind can be passed off
   as the other. Claims: ``client_id``, ``counter_id``, ``jti`` (random, so every counter QR is
   distinct), ``iat``/``exp``, the same ``dcql_query`` and ``netid`` parameters (purpose, ``min_mode``)
   as online, and no ``nonce``, ``state`` or ``response_uri``.
2. The wallet (:func:`netid.wallet.in_person.answer_counter`) opens it with
   :func:`open_counter_request` — the same checks as online (:func:`netid.oid4vp.request.open_request`)
   minus the response URI — asks consent and answers with a **dynamic QR**: ``NETIDP1:`` followed by
   the SD-JWT presentation, whose KB-JWT has ``aud`` = the counter's ``client_id``, ``iat`` = the
   holder's clock and ``nonce`` = :func:`counter_nonce` of the counter request object (a hash, so the
   presentation is bound to that one counter QR).
3. The counter (:class:`netid.verifier.CounterVerifier`) runs every check of the online verifier
   against the counter request it showed; a **time window** around its own clock (``|now − iat| ≤
   window``, 30 s by default) replaces the server nonce, and a **replay cache** remembers each accepted
   KB-JWT until the window has passed, so one dynamic QR is accepted once.

Everything here is sans-I/O; rendering the QR image is the app's business (any encoder taking text; byte
mode).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from netid.credentials.jose import b64url_encode, decode_jws_unverified, typ_matches
from netid.credentials.trust import IssuerTrust
from netid.errors import ParseError, UsageError, VerificationError
from netid.oid4vp.certificate import RpCertificate, rp_certificate_unverified
from netid.oid4vp.request import RequestTerms, is_random_token, open_signed_request, terms_from_claims
from netid.policy import DEFAULT_POLICY, Policy

__all__ = [
    "COUNTER_QR_PREFIX",
    "COUNTER_REQUEST_TYP",
    "PRESENTATION_QR_PREFIX",
    "QR_MAX_BYTES",
    "CounterRequest",
    "counter_nonce",
    "open_counter_request",
    "presentation_from_qr",
    "presentation_qr_text",
]

COUNTER_REQUEST_TYP: Final = "netid-counter+jwt"
#: prefix of the counter's (static or per-booking) QR text
COUNTER_QR_PREFIX: Final = "NETIDC1:"
#: prefix of the wallet's dynamic QR text
PRESENTATION_QR_PREFIX: Final = "NETIDP1:"
#: capacity of a version 40-L QR code in byte mode; neither QR may be longer
QR_MAX_BYTES: Final = 2953
_NONCE_CONTEXT: Final = b"netid/counter-nonce/v1\x00"
_MAX_COUNTER_ID: Final = 64


def counter_nonce(request_object: str) -> str:
    """The KB-JWT ``nonce`` for a counter request: base64url(SHA-256(context ‖ request object))."""
    return b64url_encode(hashlib.sha256(_NONCE_CONTEXT + request_object.encode("ascii")).digest())


def valid_counter_id(value: object) -> bool:
    """1-64 printable characters without surrounding spaces."""
    return (
        type(value) is str
        and 0 < len(value) <= _MAX_COUNTER_ID
        and value.isprintable()
        and value.strip() == value
    )


@dataclass(frozen=True, slots=True)
class CounterRequest(RequestTerms):
    """A signed counter request plus what the counter needs to check dynamic QRs against it.

    The wallet's and the verifier's shared logic treat it exactly like an online request (both are
    :class:`~netid.oid4vp.request.RequestTerms`). ``nonce`` is derived from ``request_object``.
    """

    counter_id: str
    nonce: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        RequestTerms.__post_init__(self)
        object.__setattr__(self, "nonce", counter_nonce(self.request_object))

    def to_qr_text(self) -> str:
        """The text to show as the counter's QR code (byte mode)."""
        return COUNTER_QR_PREFIX + self.request_object

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form for the counter's own storage (restore with :meth:`from_dict`)."""
        return {"request_object": self.request_object}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CounterRequest:
        """Rebuild from :meth:`to_dict`. The data must come from the counter's own trusted storage."""
        try:
            token = data["request_object"]
            header, claims, _, _ = decode_jws_unverified(token)
            cert_token = header.get("jwt")
            if not typ_matches(header.get("typ"), COUNTER_REQUEST_TYP) or type(cert_token) is not str:
                raise UsageError("not a counter request")
            return counter_request_from_claims(token, claims, rp_certificate_unverified(cert_token))
        except (KeyError, TypeError, ParseError) as exc:
            raise UsageError(f"not a counter request: {exc}") from exc


def counter_request_from_claims(token: str, claims: Mapping[str, Any], cert: RpCertificate) -> CounterRequest:
    """A counter request from its (authenticated) claims; :class:`ParseError` if malformed."""
    terms = terms_from_claims(token, claims, cert)
    counter_id = claims.get("counter_id")
    if type(counter_id) is not str or not valid_counter_id(counter_id):
        raise ParseError("counter request", "counter_id missing or malformed")
    if not is_random_token(claims.get("jti")):
        raise ParseError("counter request", "jti must be base64url of at least 22 characters")
    return CounterRequest(**terms, counter_id=counter_id)


def open_counter_request(
    qr_text: str, *, trust: IssuerTrust, now: int, policy: Policy = DEFAULT_POLICY
) -> CounterRequest:
    """The wallet's check of a scanned counter QR (``NETIDC1:<JWS>`` or the bare JWS).

    The same refusals as online (:func:`netid.oid4vp.request.open_signed_request`), in this order
    (:class:`VerificationError` codes): text of the right form and size (``request``); the signed-object
    checks (``request``, ``algorithm``, ``rp_certificate``, ``request_signature``), with a lifetime of at
    most ``policy.max_counter_request_lifetime``; ``client_id`` is the certificate's (``client_id``);
    scope first — the DCQL query's bounded shape (``request``), every claim within the certificate and at
    most one age threshold (``rp_scope``); ``counter_id`` and the ``netid`` parameters are well-formed and
    the DCQL query is exactly a NetID query (``request``); the purpose is registered (``purpose``).
    """
    if not isinstance(qr_text, str) or len(qr_text) > QR_MAX_BYTES:
        raise VerificationError("request", "not a counter QR")
    token = qr_text.strip().removeprefix(COUNTER_QR_PREFIX)
    return open_signed_request(
        token,
        typ=COUNTER_REQUEST_TYP,
        trust=trust,
        now=now,
        policy=policy,
        max_lifetime=policy.max_counter_request_lifetime,
        parse=counter_request_from_claims,
    )


# --- the dynamic QR ----------------------------------------------------------------------------------


def presentation_qr_text(presentation: str) -> str:
    """The dynamic QR text for a presentation: ``NETIDP1:<issuer-jwt>~<disclosure>~…~<kb-jwt>``.

    The presentation is already compact (base64url segments joined by ``~`` and ``.``; no JSON wrapper,
    no URL encoding), so it is carried as is.
    """
    return PRESENTATION_QR_PREFIX + presentation


def presentation_from_qr(text: str) -> str:
    """The presentation inside a dynamic QR text (or a bare presentation), or ``VerificationError``
    ``malformed``. Surrounding whitespace (scanners often append a line break) is ignored."""
    if not isinstance(text, str) or len(text) > QR_MAX_BYTES + 2:
        raise VerificationError("malformed", "not a dynamic QR presentation")
    presentation = text.strip().removeprefix(PRESENTATION_QR_PREFIX)
    if (
        not presentation
        or len(presentation) > QR_MAX_BYTES
        or not presentation.isascii()
        or "~" not in presentation
    ):
        raise VerificationError("malformed", "not a dynamic QR presentation")
    return presentation
