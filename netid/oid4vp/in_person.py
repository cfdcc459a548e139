"""In person (offline counter): a signed counter QR in, a short-lived dynamic QR back (DESIGN §5).

A counter — a hotel desk, a ticket gate — is a registered RP that may be offline, so it cannot hand out
a fresh server nonce per holder. Instead:

1. The counter shows a **counter request** (:func:`build_counter_request`): a JWS signed with the key of
   its RP access certificate, which travels in the ``jwt`` header exactly as for an online request, but
   with its own ``typ`` (``netid-counter+jwt``) so neither kind can be passed off as the other. Claims:
   ``client_id``, ``counter_id``, ``jti`` (random, so every counter QR is distinct), ``iat``/``exp``,
   the same ``dcql_query`` and ``netid`` parameters (purpose, ``min_mode``) as online, and no ``nonce``,
   ``state`` or ``response_uri``.
2. The wallet (:func:`netid.wallet.in_person.answer_counter`) opens it with
   :func:`open_counter_request` — the same checks as online (:func:`netid.verifier.request.open_request`)
   minus the response URI — asks consent and answers with a **dynamic QR**: ``NETIDP1:`` followed by
   the SD-JWT presentation, whose KB-JWT has ``aud`` = the counter's ``client_id``, ``iat`` = the
   holder's clock and ``nonce`` = :func:`counter_nonce` of the counter request object (a hash, so the
   presentation is bound to that one counter QR).
3. The counter (:class:`CounterVerifier`) runs every check of the online verifier against the counter
   request it showed; a **time window** around its own clock (``|now − iat| ≤ window``, 30 s by default)
   replaces the server nonce, and a **replay cache** remembers each accepted KB-JWT until the window
   has passed, so one dynamic QR is accepted once.

Check order of :meth:`CounterVerifier.verify` (codes in brackets, all in
:data:`netid.errors.VERIFICATION_CODES`): the counter request is within the certificate [``rp_scope``]
and not expired [``request``]; the dynamic QR is ``NETIDP1:<presentation>`` (or the bare presentation)
of at most :data:`QR_MAX_BYTES` bytes [``malformed``]; the SD-JWT and KB-JWT exactly as online, with
``nonce`` = :func:`counter_nonce` [``nonce``] and the window instead of the KB-JWT age [``window``]; then
``vct``, status, unrequested disclosures, subject and assurance as online; last, single use within the
window [``nonce_reused``].

Everything here is sans-I/O: the clock and randomness are injected; rendering the QR image is the app's
business (any encoder taking text; byte mode).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from netid.credentials.jose import SigningKey, decode_jws_unverified, sign_jws, typ_matches
from netid.credentials.jose import b64url_encode as _b64
from netid.errors import ParseError, UsageError, VerificationError
from netid.verifier.answers import Answers, AuthMode
from netid.verifier.dcql import Predicate, parse_dcql
from netid.verifier.replay import InMemoryReplayCache, ReplayCache
from netid.verifier.request import (
    Query,
    RpCertificate,
    _rp_certificate_unverified,
    is_random_token,
    netid_params_from_claims,
    open_rp_signed_object,
    rp_terms_for_query,
    set_derived_terms,
)
from netid.verifier.status import StatusListSource
from netid.verifier.trust import IssuerTrust
from netid.verifier.verify import check_presentation

__all__ = [
    "COUNTER_QR_PREFIX",
    "COUNTER_REQUEST_TYP",
    "DEFAULT_WINDOW",
    "PRESENTATION_QR_PREFIX",
    "QR_MAX_BYTES",
    "CounterRequest",
    "CounterVerifier",
    "build_counter_request",
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
#: seconds either side of the counter's clock within which a KB-JWT ``iat`` is accepted
DEFAULT_WINDOW: Final = 30
_NONCE_CONTEXT: Final = b"netid/counter-nonce/v1\x00"
_MAX_COUNTER_ID: Final = 64


def counter_nonce(request_object: str) -> str:
    """The KB-JWT ``nonce`` for a counter request: base64url(SHA-256(context ‖ request object))."""
    return _b64(hashlib.sha256(_NONCE_CONTEXT + request_object.encode("ascii")).digest())


def _valid_counter_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_COUNTER_ID
        and value.isprintable()
        and value.strip() == value
    )


@dataclass(frozen=True, slots=True)
class CounterRequest:
    """A signed counter request plus what the counter needs to check dynamic QRs against it.

    It satisfies :class:`netid.verifier.request.RequestTerms`, so the wallet's and the verifier's shared
    logic treat it exactly like an online request. ``nonce`` is derived from ``request_object``.
    """

    request_object: str = field(repr=False)
    client_id: str
    counter_id: str
    dcql_query: Mapping[str, Any] = field(repr=False)
    predicates: tuple[Predicate, ...]
    purpose: str
    min_mode: AuthMode | None
    certificate: RpCertificate = field(repr=False)
    iat: int
    exp: int
    nonce: str = field(init=False, repr=False)
    in_scope: bool = field(init=False, repr=False, compare=False)
    asked_claims: frozenset[str] = field(init=False, repr=False, compare=False)
    value_predicates: tuple[Predicate, ...] = field(init=False, repr=False, compare=False)
    wants_subject: bool = field(init=False, repr=False, compare=False)
    wants_netno: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nonce", counter_nonce(self.request_object))
        set_derived_terms(self, self.predicates, self.certificate)

    def to_qr_text(self) -> str:
        """The text to show as the counter's QR code (byte mode)."""
        return COUNTER_QR_PREFIX + self.request_object

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form for the counter's own storage (restore with :meth:`from_dict`)."""
        return {"request_object": self.request_object}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CounterRequest:
        """Rebuild from :meth:`to_dict`. The data must come from the counter's own trusted storage."""
        token = data["request_object"]
        header, claims, _, _ = decode_jws_unverified(token)
        cert_token = header.get("jwt")
        if not typ_matches(header.get("typ"), COUNTER_REQUEST_TYP) or not isinstance(cert_token, str):
            raise UsageError("not a counter request")
        try:
            return _counter_request_from_claims(token, claims, _rp_certificate_unverified(cert_token))
        except ParseError as exc:
            raise UsageError(f"not a counter request: {exc.reason}") from exc


def _counter_request_from_claims(
    token: str, claims: Mapping[str, Any], cert: RpCertificate
) -> CounterRequest:
    purpose, min_mode = netid_params_from_claims(claims)
    counter_id, client_id = claims.get("counter_id"), claims.get("client_id")
    if not _valid_counter_id(counter_id) or not isinstance(client_id, str):
        raise ParseError("counter request", "counter_id or client_id missing")
    assert isinstance(counter_id, str)
    iat, exp = claims.get("iat"), claims.get("exp")
    if type(iat) is not int or type(exp) is not int:
        raise ParseError("counter request", "iat/exp missing")
    if not is_random_token(claims.get("jti")):
        raise ParseError("counter request", "jti must be base64url of at least 22 characters")
    return CounterRequest(
        request_object=token,
        client_id=client_id,
        counter_id=counter_id,
        dcql_query=claims["dcql_query"],
        predicates=parse_dcql(claims.get("dcql_query")),
        purpose=purpose,
        min_mode=min_mode,
        certificate=cert,
        iat=iat,
        exp=exp,
    )


def build_counter_request(
    query: Query,
    *,
    rp_key: SigningKey,
    rp_certificate: str,
    counter_id: str,
    now: int,
    ttl: int = 86_400,
    rng: Callable[[int], bytes] = secrets.token_bytes,
) -> CounterRequest:
    """Build and sign the counter request for ``query`` (what the counter shows as its QR).

    ``ttl`` is how long the QR may be shown (a desk screen may keep one all day; freshness comes from the
    window, not from this). ``rng`` supplies the 128-bit ``jti``. Raises :class:`UsageError` for a purpose
    or predicate outside the certificate, a ``rp_key`` that is not the certificate's, a bad
    ``counter_id`` (1-64 printable characters) or a request too large for a QR code.
    """
    if not _valid_counter_id(counter_id):
        raise UsageError("counter_id must be 1-64 printable characters without surrounding spaces")
    if type(ttl) is not int or ttl <= 0:
        raise UsageError("ttl must be a positive number of seconds")
    cert, predicates, dcql, netid_params = rp_terms_for_query(
        query, rp_key=rp_key, rp_certificate=rp_certificate
    )
    claims: dict[str, Any] = {
        "iat": now,
        "exp": now + ttl,
        "client_id": cert.client_id,
        "counter_id": counter_id,
        "jti": _b64(rng(16)),
        "dcql_query": dcql,
        "netid": netid_params,
    }
    token = sign_jws(claims, rp_key, typ=COUNTER_REQUEST_TYP, extra_headers={"jwt": rp_certificate})
    if len(COUNTER_QR_PREFIX) + len(token) > QR_MAX_BYTES:
        raise UsageError("the counter request does not fit a QR code")
    return CounterRequest(
        request_object=token,
        client_id=cert.client_id,
        counter_id=counter_id,
        dcql_query=dcql,
        predicates=predicates,
        purpose=query.purpose,
        min_mode=query.min_mode,
        certificate=cert,
        iat=now,
        exp=now + ttl,
    )


def open_counter_request(
    qr_text: str,
    *,
    issuer_jwks: Mapping[str, Any] | IssuerTrust,
    now: int,
    leeway: int = 60,
) -> CounterRequest:
    """The wallet's check of a scanned counter QR (``NETIDC1:<JWS>`` or the bare JWS).

    The same refusals as online, in this order (:class:`VerificationError` codes): text of the right
    form and size (``request``); the signed-object checks of
    :func:`netid.verifier.request.open_rp_signed_object` (``request``, ``algorithm``, ``rp_certificate``,
    ``request_signature``); ``client_id`` is the certificate's (``client_id``); ``counter_id`` and the
    ``netid`` parameters are well-formed and the DCQL query is a NetID query (``request``); the purpose
    is registered (``purpose``); every predicate is within the certificate (``rp_scope``).
    """
    if not isinstance(qr_text, str) or len(qr_text) > QR_MAX_BYTES:
        raise VerificationError("request", "not a counter QR")
    token = qr_text.strip()
    token = token.removeprefix(COUNTER_QR_PREFIX)
    claims, cert = open_rp_signed_object(
        token, typ=COUNTER_REQUEST_TYP, issuer_jwks=issuer_jwks, now=now, leeway=leeway
    )
    if claims.get("client_id") != cert.client_id:
        raise VerificationError("client_id", "client_id does not match the RP certificate")
    try:
        opened = _counter_request_from_claims(token, claims, cert)
    except ParseError as exc:
        raise VerificationError("request", f"malformed counter request: {exc.reason}") from exc
    if opened.purpose not in cert.purposes:
        raise VerificationError("purpose", "purpose is not registered in the RP certificate")
    for pred in opened.predicates:
        if not cert.allows(pred):
            raise VerificationError("rp_scope", f"the RP is not allowed to ask {pred.name!r}")
    return opened


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


class CounterVerifier:
    """The counter's verifier: dynamic QRs in, :class:`Answers` out (or a precise error).

    ``trust`` holds the issuer keys; ``status`` the status-list source (a counter that is offline can
    serve a recently fetched list; ``None`` skips the check and accepts that risk); ``clock`` returns
    Unix seconds. ``window`` is the accepted distance between a KB-JWT ``iat`` and the counter's clock
    (either side); ``leeway`` bounds clock skew for the credential's and the counter request's own
    times. ``replay_cache`` defaults to a process-local one on ``clock``.
    """

    def __init__(
        self,
        trust: IssuerTrust,
        *,
        status: StatusListSource | None,
        clock: Callable[[], int],
        window: int = DEFAULT_WINDOW,
        leeway: int = 60,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        if type(window) is not int or window <= 0:
            raise UsageError("window must be a positive number of seconds")
        self._trust = trust
        self._status = status
        self._clock = clock
        self._window = window
        self._leeway = leeway
        self._replay = replay_cache if replay_cache is not None else InMemoryReplayCache(clock)

    @property
    def window(self) -> int:
        return self._window

    def verify(self, qr_text: str, counter_request: CounterRequest) -> Answers:
        """Verify a scanned dynamic QR (or a bare presentation) against the counter request shown.

        Returns :class:`Answers`; raises :class:`VerificationError` (order and codes in the module
        docstring).
        """
        now = self._clock()
        if not counter_request.in_scope:
            raise VerificationError("rp_scope", "the counter request asks more than the certificate allows")
        if now > counter_request.exp + self._leeway:
            raise VerificationError("request", "the counter request has expired; show a new one")
        presentation = presentation_from_qr(qr_text)
        answers, verified = check_presentation(
            presentation,
            counter_request,
            trust=self._trust,
            status=self._status,
            nonce=counter_request.nonce,
            now=now,
            leeway=self._leeway,
            kb_window=(now - self._window, now + self._window),
        )
        # Single use, last. The key is the KB-JWT's signing input (header.payload), not its bytes: an
        # ECDSA signature can be re-encoded as a second valid one (s -> n - s), the signed part cannot.
        kb_signing_input = presentation[presentation.rindex("~") + 1 :].rpartition(".")[0]
        key = hmac.new(
            counter_request.nonce.encode("ascii"), kb_signing_input.encode("ascii"), hashlib.sha256
        ).hexdigest()
        kb_iat = (verified.kb_payload or {}).get("iat", now)
        # The window accepts while now <= iat + window (inclusive); the replay cache's expiry is inclusive
        # too, so the key is remembered through exactly the last second the window would accept it.
        expires_at = math.ceil(kb_iat) + self._window
        if not self._replay.consume(f"counter\x00{counter_request.client_id}\x00{key}", expires_at):
            raise VerificationError("nonce_reused", "this dynamic QR was already accepted")
        return answers
