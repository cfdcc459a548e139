"""Presenting over HTTP: from a scanned request URI (a QR code's text or a link) to the relying party's
answer, for a wallet on disk (:class:`~netid.wallet.session.WalletSession`).

:func:`present_uri` is the one entry point. In order:

1. **the holder's mode**: ``face`` or ``pin+face`` need face verification enabled and a
   :class:`~netid.wallet.face.FaceCheck` (``mode_unavailable`` otherwise) — decided before anything is
   fetched;
2. **the request object**: by value from the URI, or fetched from its ``request_uri`` with one ``GET``
   (:func:`fetch_request_object`: ``https`` only — ``http`` to a loopback host only in the explicit
   development mode ``allow_loopback_http`` —, a timeout, at most ``policy.max_request_bytes``, no
   redirect followed, no cookie sent, ``application/oauth-authz-req+jwt``). A URI, size or type the
   wallet will not take is a refusal (``request``); a network failure or an RP error is a
   :class:`~netid.errors.PresentationError` (nothing disclosed, nothing used);
3. **the checks** of :func:`netid.oid4vp.request.open_request` (RP certificate issued by the trusted
   issuer, request signed by its key, ``client_id``, response URI registered and ``https``, scope,
   purpose), each a :class:`~netid.errors.WalletRefusal` with its code;
4. **RP revocation**, by default: the certificate's status entry is looked up in the issuer's status list,
   fetched over HTTP and verified with the issuer's keys (:func:`issuer_status_source`; the keys as stored
   at enrollment or refresh, re-fetched when a token names a key the wallet does not know). A status that
   cannot be determined is a refusal (``rp_certificate``): the wallet fails closed. The issuer sees a
   status-list fetch, not which RP is being answered (one list holds many RPs' entries); an app that
   presents often passes one long-lived ``rp_status`` source, which fetches a list once per its TTL;
5. **never the same request twice**: a request this wallet answered before (same ``client_id`` and
   ``nonce``, remembered in the store until it expires) is refused (``already_answered``) before any
   consent is asked. The RP refuses a replayed response anyway; the wallet's memory spares a credential
   and tells the holder a QR code was shown to them again;
6. **consent** in plain words, both languages (:func:`~netid.wallet.consent.build_consent_prompt`:
   the RP as the processor, its contact, purpose and retention period from its certificate), then — for
   ``face`` modes — a live face that matches the card's portrait (``face_mismatch``). On **first
   contact** with an RP that asks for a subject (or the network number), when no RP-scoped credential for
   its sector is held, the prompt says the wallet will first fetch credentials for that RP; after the
   holder agrees the wallet fetches an RP-scoped batch (:meth:`WalletSession.fetch_rp_credentials`) and
   then presents;
7. **the presentation** (:func:`~netid.wallet.present.disclose_and_bind`): the minimum disclosure and a
   KB-JWT; the credential is marked used, its key deleted, the holder's log written and the request
   remembered — **on disk before anything is posted**;
8. **the post** to ``response_uri``: ``direct_post`` (a form), or ``direct_post.jwt`` (the response
   encrypted to the RP's key) when the request asks for it; the RP's ``redirect_uri``, if any and if it is
   a URL the wallet may show, is returned;
9. **refresh**: :meth:`WalletSession.refresh_if_needed` after every presentation (a failure there is
   reported in the outcome, never raised: the presentation is done).

**Nothing is posted and no credential is used** when anything fails before step 8. **A failed post loses
that one credential, knowingly**: the presentation is bound to this request's nonce and audience (it
answers nothing else), its key is deleted at step 7 so it can never be presented twice (a second
presentation of one credential would link the two), and the RP may have received it although the answer
was lost. So the wallet does not pretend otherwise: :class:`~netid.errors.PresentationError` says
``spent=True``, the holder's log keeps the answer as given, and the request stays remembered (scan a new
QR code from the RP to try again). Only a failure to connect — the request certainly never left — is
retried, once.

The HTTP itself goes through :func:`netid.http.bounded_request`, over the ``httpx.Client`` the caller
owns.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import httpx

from netid.credentials._b64 import b64url_encode
from netid.credentials.jose import json_loads
from netid.credentials.status_source import CachedStatusLists, StatusListSource
from netid.credentials.trust import IssuerTrust, parse_jwks
from netid.errors import (
    EnrollmentError,
    ParseError,
    PresentationError,
    UsageError,
    VerificationError,
    WalletError,
    WalletRefusal,
)
from netid.http import DEFAULT_TIMEOUT, HttpError, HttpReply, bounded_request, is_loopback_host
from netid.oid4vp.certificate import response_uri_allowed
from netid.oid4vp.modes import MODES, AuthMode, mode_rank
from netid.oid4vp.request import REQUEST_TYP, PresentationRequest, open_request
from netid.oid4vp.response import vp_token_for
from netid.policy import DEFAULT_POLICY, Policy
from netid.wallet.consent import ConsentPrompt, build_consent_prompt
from netid.wallet.face import FaceCheck, require_match
from netid.wallet.in_person import answer_counter
from netid.wallet.log import LogEntry, presentation_entry
from netid.wallet.present import PresentationResponse, Wallet, check_rp_status, disclose_and_bind

if TYPE_CHECKING:
    from netid.wallet.session import WalletSession
    from netid.wallet.store import IssuerRecord

__all__ = [
    "PresentationOutcome",
    "answer_counter_qr",
    "answered_key",
    "fetch_request_object",
    "issuer_status_source",
    "post_response",
    "present_uri",
]

#: the media types a request object is served with (RFC 9101 §10.2; ``application/jwt`` is common)
REQUEST_MEDIA_TYPES: Final = (f"application/{REQUEST_TYP}", "application/jwt")
#: the largest answer to a posted response (``{}`` or a redirect URI) and to a JWKS / status list fetch
_MAX_ANSWER_BYTES: Final = 64 * 1024
_MAX_ISSUER_BYTES: Final = 1024 * 1024
_CODE_RE: Final = re.compile(r"[a-z0-9_]{1,64}")
_FACE_MODES: Final = ("face", "pin+face")


@dataclass(frozen=True, slots=True)
class PresentationOutcome:
    """What :func:`present_uri` did, in the terms the holder's log uses — never a disclosed value.

    ``answers`` maps each asked predicate to whether it was proven (``False``: withheld, the RP sees "not
    proven"); ``disclosed`` names the claims disclosed; ``subject_shared`` whether the RP got its pairwise
    account identifier. ``redirect_uri`` is where the RP asks the holder's browser to go next (same-device
    flows), if it named a URL the wallet may show. ``rp_credentials`` counts RP-scoped credentials fetched
    first (first contact), ``refreshed`` those fetched afterwards by the refresh; ``refresh_error`` is the
    refresh's error code if it failed (the presentation stands).
    """

    rp_id: str
    rp_name: str
    purpose: str
    answers: Mapping[str, bool]
    disclosed: frozenset[str]
    subject_shared: bool
    response_mode: str
    mode: AuthMode
    redirect_uri: str | None = None
    rp_credentials: int = 0
    refreshed: int = 0
    refresh_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rp": {"id": self.rp_id, "name": self.rp_name},
            "purpose": self.purpose,
            "answers": dict(self.answers),
            "disclosed": sorted(self.disclosed),
            "subject_shared": self.subject_shared,
            "response_mode": self.response_mode,
            "mode": self.mode,
            "redirect_uri": self.redirect_uri,
            "rp_credentials_fetched": self.rp_credentials,
            "refreshed": self.refreshed,
            "refresh_error": self.refresh_error,
        }


def answered_key(terms: PresentationRequest) -> str:
    """What the wallet remembers of an answered request: a hash of its ``client_id`` and ``nonce`` (the
    RP's transaction, whatever the request object's other bytes)."""
    digest = hashlib.sha256(f"{terms.client_id}\x00{terms.nonce}".encode()).digest()
    return b64url_encode(digest)


def _rp_error(reply: HttpReply, what: str, *, spent: bool) -> PresentationError:
    """A relying party's error answer: its RFC 9457 ``code`` (or OAuth ``error``) when it gives one."""
    code = "rp_error"
    if reply.media_type in ("application/problem+json", "application/json"):
        try:
            body = json.loads(reply.body)
        except ValueError:
            body = None
        given = (body.get("code") or body.get("error")) if isinstance(body, dict) else None
        if isinstance(given, str) and _CODE_RE.fullmatch(given):
            code = given
    return PresentationError(
        code, f"the relying party answered {what} with HTTP {reply.status}", status=reply.status, spent=spent
    )


def fetch_request_object(
    http: httpx.Client,
    request_uri: str,
    *,
    policy: Policy = DEFAULT_POLICY,
    timeout: float = DEFAULT_TIMEOUT,
    allow_loopback_http: bool = False,
) -> str:
    """``GET request_uri``: the signed request object (its checks are :func:`open_request`'s).

    :class:`~netid.errors.WalletRefusal` ``request`` for a URI the wallet does not contact (not ``https``;
    ``http`` to loopback outside the development mode ``allow_loopback_http``), an answer larger than
    ``policy.max_request_bytes``, or one that is not a request object (media type, not ASCII);
    :class:`~netid.errors.PresentationError` when the RP cannot be reached (``transport``) or answers with
    an error (its problem code, or ``rp_error``). Usable as :meth:`Wallet.present`'s ``fetch`` too.
    """
    try:
        reply = bounded_request(
            http, "GET", request_uri, max_bytes=policy.max_request_bytes, timeout=timeout,
            headers={"Accept": ", ".join(REQUEST_MEDIA_TYPES)}, allow_loopback_http=allow_loopback_http,
        )  # fmt: skip
    except HttpError as exc:
        if exc.code == "url":
            raise WalletRefusal("request", f"the wallet does not fetch this URI: {exc.message}") from exc
        if exc.code == "too_large":
            raise WalletRefusal("request", "the request object is larger than the wallet accepts") from exc
        raise PresentationError(
            "transport", f"the relying party could not be reached ({exc.message})"
        ) from exc
    if reply.status != 200:
        raise _rp_error(reply, "the request_uri", spent=False)
    if reply.media_type not in REQUEST_MEDIA_TYPES:
        raise WalletRefusal("request", "the request_uri did not answer with a request object")
    try:
        return reply.body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise WalletRefusal("request", "the request object is not a compact JWS") from None


def post_response(
    http: httpx.Client,
    response: PresentationResponse,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    allow_loopback_http: bool = False,
) -> str | None:
    """``POST`` the response's form to its ``response_uri``; return the RP's ``redirect_uri`` if it gave
    one the wallet may show (``https``; ``http`` to loopback in the development mode), else ``None``.

    :class:`~netid.errors.PresentationError` (``spent=True``: the presentation is made) for a network
    failure (``transport``; a failure to connect is retried once), or an RP answer that is an error (its
    problem code: ``already_answered``, ``state_mismatch``, …) or not an OpenID4VP answer (``rp_error``).
    """
    form = response.form()
    reply: HttpReply | None = None
    for attempt in range(2):
        try:
            reply = bounded_request(
                http, "POST", response.response_uri, form=form, max_bytes=_MAX_ANSWER_BYTES, timeout=timeout,
                headers={"Accept": "application/json"}, allow_loopback_http=allow_loopback_http,
            )  # fmt: skip
            break
        except HttpError as exc:
            if exc.code == "transport" and not exc.sent and attempt == 0:
                continue  # never left this machine: sending it again cannot make two answers
            code = "rp_error" if exc.code == "too_large" else "transport"
            raise PresentationError(
                code, f"the response could not be delivered ({exc.message})", spent=True
            ) from exc
    assert reply is not None
    if reply.status != 200:
        raise _rp_error(reply, "the response", spent=True)
    try:
        body = json_loads(reply.body) if reply.body.strip() else {}
    except ValueError:
        raise PresentationError(
            "rp_error", "the relying party's answer is not JSON", status=200, spent=True
        ) from None
    if not isinstance(body, dict):
        raise PresentationError(
            "rp_error", "the relying party's answer is not a JSON object", status=200, spent=True
        )
    redirect = body.get("redirect_uri")
    if redirect is None or not response_uri_allowed(redirect, allow_loopback_http=allow_loopback_http):
        return None
    return str(redirect)


# --- the issuer's keys and status lists, over HTTP -------------------------------------------------------


def _issuer_allows_http(issuer_url: str) -> bool:
    """An issuer enrolled with over ``http`` (a test issuer on this machine): its own URLs are too."""
    parts = urllib.parse.urlsplit(issuer_url)
    return parts.scheme == "http" and is_loopback_host(parts.hostname or "")


class _StoredThenFetchedJwks:
    """The issuer's key set for :class:`IssuerTrust`: first as stored (no network), then — when a token
    names a key the stored set lacks (a rotation) — fetched from ``/jwks.json`` and stored."""

    def __init__(self, session: WalletSession, record: IssuerRecord, http: httpx.Client, timeout: float):
        self._session = session
        self._record = record
        self._http = http
        self._timeout = timeout
        self._stored_given = False

    def __call__(self) -> Mapping[str, Any]:
        if not self._stored_given:
            self._stored_given = True
            return self._record.jwks
        url = f"{self._record.issuer_url}/jwks.json"
        reply = bounded_request(
            self._http, "GET", url, max_bytes=_MAX_ISSUER_BYTES, timeout=self._timeout,
            headers={"Accept": "application/json"},
            allow_loopback_http=_issuer_allows_http(self._record.issuer_url),
        )  # fmt: skip
        if reply.status != 200:
            raise PresentationError("rp_error", f"GET {url}: HTTP {reply.status}", status=reply.status)
        document = json_loads(reply.body)
        if not isinstance(document, dict):
            raise ParseError("JWKS", "not a JSON object")
        parse_jwks(document)  # ParseError for a set that must not be used
        self._record.jwks = document
        self._session.store.changed()
        return document


def _issuer_trust(
    session: WalletSession, record: IssuerRecord, http: httpx.Client, timeout: float
) -> IssuerTrust:
    trust = IssuerTrust(
        issuer=record.issuer_url,
        fetch=_StoredThenFetchedJwks(session, record, http, timeout),
        clock=session.clock,
        ttl=2**31,  # the stored set stands until a token names a key it lacks
        refetch_interval=0,  # one presentation names at most two keys: at most two fetches
    )
    trust.lookup("")  # load the stored set now (no network): from here on an unknown kid fetches
    return trust


def issuer_status_source(
    record: IssuerRecord,
    http: httpx.Client,
    trust: IssuerTrust,
    *,
    clock: Callable[[], int],
    policy: Policy = DEFAULT_POLICY,
    timeout: float = DEFAULT_TIMEOUT,
) -> CachedStatusLists:
    """The issuer's status lists over HTTP, verified with ``trust`` (only URIs under the issuer's own URL
    are fetched: :class:`CachedStatusLists` refuses others before any request)."""
    allow = _issuer_allows_http(record.issuer_url)

    def fetch(uri: str) -> str:
        reply = bounded_request(
            http, "GET", uri, max_bytes=_MAX_ISSUER_BYTES, timeout=timeout,
            headers={"Accept": "application/statuslist+jwt"}, allow_loopback_http=allow,
        )  # fmt: skip
        if reply.status != 200:
            raise PresentationError("rp_error", f"GET {uri}: HTTP {reply.status}", status=reply.status)
        return reply.body.decode("ascii").strip()

    return CachedStatusLists(fetch, trust, clock=clock, policy=policy)


# --- the whole presentation ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Fetched:
    """What the ``fetch`` handed to :func:`open_request` ran into (its own errors are flattened there)."""

    error: PresentationError | WalletRefusal | None = field(default=None)


def _open(
    uri: str,
    *,
    http: httpx.Client,
    trust: IssuerTrust,
    now: int,
    policy: Policy,
    timeout: float,
    allow_loopback_http: bool,
) -> PresentationRequest:
    seen = _Fetched()

    def fetch(request_uri: str) -> str:
        try:
            return fetch_request_object(
                http, request_uri, policy=policy, timeout=timeout, allow_loopback_http=allow_loopback_http
            )
        except (PresentationError, WalletRefusal) as exc:
            seen.error = exc
            raise

    try:
        return open_request(
            uri, trust=trust, now=now, fetch=fetch, policy=policy, allow_loopback_http=allow_loopback_http
        )
    except VerificationError as exc:
        if seen.error is not None:
            raise seen.error from exc
        raise WalletRefusal.from_error(exc) from exc


def _holder_side(
    session: WalletSession,
    *,
    mode: AuthMode,
    face: FaceCheck | None,
    issuer_url: str | None,
    rp_status: StatusListSource | Literal["offline"] | None,
    http: httpx.Client,
    policy: Policy,
    timeout: float,
) -> tuple[IssuerRecord, IssuerTrust, StatusListSource | Literal["offline"]]:
    """What both answering paths check and set up before a request is opened: the mode (``face`` modes
    need face verification enabled and a check), the issuer enrollment, its keys, the RP-status source."""
    if mode not in MODES:
        raise UsageError(f"mode must be one of {MODES}")
    record = session.issuer(issuer_url)
    if mode in _FACE_MODES and (session.face is None or face is None):
        raise WalletRefusal("mode_unavailable", "face verification is not enabled in this wallet")
    trust = _issuer_trust(session, record, http, timeout)
    status: StatusListSource | Literal["offline"] = (
        rp_status
        if rp_status is not None
        else issuer_status_source(record, http, trust, clock=session.clock, policy=policy, timeout=timeout)
    )
    return record, trust, status


def _consent_then_face(
    consent: Callable[[ConsentPrompt], bool], session: WalletSession, mode: AuthMode, face: FaceCheck | None
) -> Callable[[ConsentPrompt], bool]:
    """The holder's consent, then for ``face`` modes a live face matching the portrait (``face_mismatch``:
    raised before anything is signed)."""

    def ask(prompt: ConsentPrompt) -> bool:
        if not consent(prompt):
            return False
        if mode in _FACE_MODES:
            require_match(session.face, face)
        return True

    return ask


def present_uri(
    session: WalletSession,
    uri: str,
    *,
    http: httpx.Client,
    consent: Callable[[ConsentPrompt], bool],
    mode: AuthMode = "pin",
    face: FaceCheck | None = None,
    issuer_url: str | None = None,
    rp_status: StatusListSource | Literal["offline"] | None = None,
    policy: Policy = DEFAULT_POLICY,
    allow_loopback_http: bool = False,
    refresh: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> PresentationOutcome:
    """Answer the request behind ``uri`` (an ``openid4vp://`` URI or a request object) over HTTP.

    See the module docstring for the steps. ``consent`` is asked with the plain-language prompt and
    returns the holder's decision; ``mode`` is how the holder authenticates this presentation (the KB-JWT's
    ``amr``): a wallet on disk was opened with the PIN, so ``pin``; ``face``/``pin+face`` run the face
    check ``face`` after consent. ``rp_status`` defaults to the issuer's status lists over HTTP
    (:func:`issuer_status_source`); :data:`~netid.wallet.present.OFFLINE` skips the RP-revocation check
    knowingly. ``allow_loopback_http`` is the development mode (``http`` request and response URIs to a
    loopback host); ``refresh`` runs :meth:`WalletSession.refresh_if_needed` afterwards.

    Raises :class:`~netid.errors.WalletRefusal` (the wallet refused; logged, nothing posted, nothing used)
    or :class:`~netid.errors.PresentationError` (network or RP trouble; ``spent`` says whether the
    presentation was made).
    """
    record, trust, status = _holder_side(
        session, mode=mode, face=face, issuer_url=issuer_url, rp_status=rp_status, http=http, policy=policy,
        timeout=timeout,
    )  # fmt: skip
    try:
        terms = _open(uri, http=http, trust=trust, now=session.clock(), policy=policy, timeout=timeout,
                      allow_loopback_http=allow_loopback_http)  # fmt: skip
    except WalletRefusal as refused:
        session.record_presentation(None, None, refused)
        raise

    ask = _consent_then_face(consent, session, mode, face)

    fetched = 0
    key = answered_key(terms)
    try:
        check_rp_status(terms.certificate, status)
        if key in session.store.answered:
            raise WalletRefusal("already_answered", "this wallet has answered this very request already")
        if terms.min_mode is not None and mode_rank(mode) < mode_rank(terms.min_mode):
            raise WalletRefusal("mode_unavailable", "the request needs a stronger authentication mode")
        credentials = session.usable_credentials(record.issuer_url)
        sector = terms.certificate.sector
        first_contact = (terms.wants_subject or terms.wants_netno) and not any(
            c.kind == "rp" and c.sector == sector for c in credentials
        )
        confirm = ask
        if first_contact:
            if not ask(build_consent_prompt(terms, first_contact=True)):
                raise WalletRefusal("consent_denied", "the holder declined")
            try:
                fetched = session.fetch_rp_credentials(
                    terms.certificate.rp_id, http=http, issuer_url=record.issuer_url
                )
            except EnrollmentError as exc:
                raise PresentationError(
                    exc.code, f"credentials for this relying party could not be fetched: {exc.message}",
                    status=exc.status,
                ) from exc  # fmt: skip
            credentials = session.usable_credentials(record.issuer_url)
            confirm = _already_confirmed
        # the credential used, its key deleted, the log, the request remembered: one write, before the post
        with session.store.deferred():
            presentation, disclosed = disclose_and_bind(
                terms, credentials, keystore=session.store, now=session.clock(), consent=confirm, amr=mode,
                nonce=terms.nonce, formats=terms.vp_formats,
            )  # fmt: skip
            session.record_presentation(terms, disclosed, None)
            session.store.remember_answered(key, terms.exp + policy.leeway, now=session.clock())
    except WalletRefusal as refused:
        session.record_presentation(terms, None, refused)
        raise
    response = PresentationResponse(
        response_uri=terms.response_uri,
        vp_token=vp_token_for(presentation, terms, disclosed),
        state=terms.state,
        encryption=terms.response_encryption,
    )
    try:
        redirect = post_response(http, response, timeout=timeout, allow_loopback_http=allow_loopback_http)
    finally:
        refreshed, refresh_error = _refresh(session, http, record.issuer_url) if refresh else (0, None)
    entry = presentation_entry(terms, disclosed, None, at=session.clock())
    return PresentationOutcome(
        rp_id=terms.certificate.rp_id,
        rp_name=terms.certificate.name,
        purpose=terms.purpose,
        answers=dict(entry.answers),
        disclosed=disclosed,
        subject_shared=entry.subject_shared,
        response_mode=terms.response_mode,
        mode=mode,
        redirect_uri=redirect,
        rp_credentials=fetched,
        refreshed=refreshed,
        refresh_error=refresh_error,
    )


def _already_confirmed(prompt: ConsentPrompt) -> bool:
    """The consent step of a first contact: the holder agreed before the RP-scoped batch was fetched."""
    return True


def _refresh(session: WalletSession, http: httpx.Client, issuer_url: str) -> tuple[int, str | None]:
    try:
        return session.refresh_if_needed(http=http, issuer_url=issuer_url), None
    except WalletError as exc:  # the issuer's refusal or outage, no refresh token: the presentation stands
        return 0, exc.code if isinstance(exc, EnrollmentError) else "refresh_failed"


# --- in person: a counter's QR code ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CounterAnswer:
    """What :func:`answer_counter_qr` did: ``qr_text`` is the dynamic QR to show the counter now (it is
    accepted within the counter's window, once); ``entry`` is the holder's log entry for it."""

    qr_text: str
    entry: LogEntry


def answer_counter_qr(
    session: WalletSession,
    qr_text: str,
    *,
    http: httpx.Client,
    consent: Callable[[ConsentPrompt], bool],
    mode: AuthMode = "pin",
    face: FaceCheck | None = None,
    issuer_url: str | None = None,
    rp_status: StatusListSource | Literal["offline"] | None = None,
    policy: Policy = DEFAULT_POLICY,
    timeout: float = DEFAULT_TIMEOUT,
) -> CounterAnswer:
    """Answer a counter's QR code (``NETIDC1:…``, :mod:`netid.oid4vp.in_person`) from a wallet on disk.

    The in-person twin of :func:`present_uri`: the same mode and face checks, the same RP-revocation
    check over HTTP by default (the only network use: nothing is posted, the holder shows the answer),
    the same consent; the checks of the counter request are :func:`netid.wallet.in_person.answer_counter`'s.
    The credential used, its key deleted and the log entry are on disk before the QR text is returned.
    Raises :class:`~netid.errors.WalletRefusal` (logged; nothing used) or
    :class:`~netid.errors.PresentationError` (the issuer's status list could not be fetched).
    """
    record, trust, status = _holder_side(
        session, mode=mode, face=face, issuer_url=issuer_url, rp_status=rp_status, http=http, policy=policy,
        timeout=timeout,
    )  # fmt: skip

    ask = _consent_then_face(consent, session, mode, face)

    wallet = Wallet(session.store, trust, rp_status=status, policy=policy, log=session.record_presentation)
    wallet.credentials = session.usable_credentials(record.issuer_url)
    text = answer_counter(qr_text, wallet, now=session.clock(), consent=ask, amr=mode)
    return CounterAnswer(text, session.store.log[-1])
