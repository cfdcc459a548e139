"""The relying party's service over HTTP, without a web framework: start a transaction, serve its request
object, take the wallet's response, read the result.

:class:`RelyingParty` bundles what an RP holds — its request-signing key and access certificate, its
response-encryption key, its public base URL, a :class:`~netid.verifier.Verifier` and a
:class:`~netid.verifier.transactions.TransactionStore` — and turns HTTP-shaped input (a path's
transaction id, a parsed form) into results or a :class:`TransactionError` with a stable ``code`` and an
HTTP ``status``. The FastAPI router (:mod:`netid.verifier.http.router`) is a thin layer over it, so any
other framework can call the same four methods.

URLs, under ``{base_url}{prefix}`` (``prefix`` default ``/netid``):

- ``GET  …/request/{tx}``  the signed request object (``application/oauth-authz-req+jwt``);
- ``POST …/response/{tx}`` the wallet's ``direct_post`` / ``direct_post.jwt`` form — the response URI is
  bound to the transaction by a path element. The RP's access certificate must register
  ``{base_url}{prefix}/response/`` (a prefix entry, ``specs/protocol.md`` §4). An RP whose certificate
  registers only the exact ``{base_url}{prefix}/response`` gets that one response URI for every
  transaction, which then finds its transaction by ``state`` alone;
- ``GET  …/transactions/{tx}`` the status, for a page that polls.

**Responding** (:meth:`RelyingParty.receive`), in order — the first failure is the error, and only a
response that carries the transaction's ``state`` can change the transaction:

1. the transaction exists and the response came to its URI (``unknown_transaction``, 404);
2. it is still open: not past ``expires_at`` (``transaction_expired``, 410), not answered or failed
   (``already_answered`` / ``transaction_failed``, 409 — a replayed response lands here);
3. the form is what the request's ``response_mode`` asks for: ``vp_token`` and ``state``, or one
   ``response`` JWE that decrypts with the RP's key into them (``invalid_response``, 400); a wallet's
   error response (``error``, ``state``, §8.2) is taken in either mode;
4. its ``state`` is the request's, compared in constant time (``state_mismatch``, 400);
5. the presentation verifies (the :class:`~netid.verifier.Verifier`'s code, 400; 503 when the issuer
   could not be reached): the transaction is then ``failed`` with that code — except ``nonce_reused``,
   a replay, which changes nothing;
6. the transaction becomes ``answered`` with the :class:`~netid.verifier.Answers`; the wallet gets ``{}``
   or, when the transaction was started with a ``redirect_uri`` (same-device), ``{"redirect_uri": …}``
   carrying a fresh ``response_code`` (OpenID4VP 1.0 §8.2, against session fixation): the answers of
   such a transaction are released only to the holder of that code (:meth:`RelyingParty.result`).

Refused attempts are logged in the transaction's event log (bounded) but change nothing else.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NoReturn

from cryptography.hazmat.primitives.asymmetric import ec

from netid.credentials.jose import SigningKey, b64url_encode
from netid.errors import TransactionError, UsageError, VerificationError
from netid.oid4vp.certificate import RpCertificate, response_uri_allowed, rp_certificate_unverified
from netid.oid4vp.request import ENCRYPTED_RESPONSE_MODE, RESPONSE_MODES
from netid.oid4vp.response import decrypt_response, encryption_jwk
from netid.verifier.answers import Answers
from netid.verifier.build import build_request
from netid.verifier.query import Query
from netid.verifier.transactions import (
    InMemoryTransactionStore,
    Transaction,
    TransactionStatus,
    TransactionStore,
)
from netid.verifier.verify import Verifier

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "TRANSACTION_ID_RE",
    "RelyingParty",
    "ResponseMode",
    "Result",
    "TransactionError",
]

ResponseMode = Literal["direct_post", "direct_post.jwt"]
#: the largest response body taken: six copies of a 16 KiB presentation (a vp_token lists the one
#: presentation under each answered query), form-encoded or encrypted, with room to spare
DEFAULT_MAX_BODY_BYTES: Final = 256 * 1024
#: what a transaction id looks like (in a path); anything else is unknown without a store lookup
TRANSACTION_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{22,128}")
_WALLET_ERROR_RE: Final = re.compile(r"[a-z_]{1,64}")
#: verification codes that mean the RP could not reach the issuer: an outage (503), not a bad response
_OUTAGES: Final = frozenset({"status_unavailable", "jwks_unavailable"})
_TX_ID_BYTES: Final = 16  # 128 bits, 22 base64url characters
_PURGE_INTERVAL: Final = 60


@dataclass(frozen=True, slots=True)
class Result:
    """What came of a transaction (:meth:`RelyingParty.result`).

    ``answers`` only when ``status`` is ``answered`` (and, for a same-device transaction, the right
    ``response_code`` was given); ``error`` the verification code when ``failed``.
    """

    status: TransactionStatus
    answers: Answers | None = None
    error: str | None = None


def _system_clock() -> int:
    return int(time.time())


def _check_base_url(base_url: str) -> str:
    if not isinstance(base_url, str) or not response_uri_allowed(base_url, allow_loopback_http=True):
        raise UsageError("base_url must be an https URL (http only to a loopback host, in development)")
    parts = urllib.parse.urlsplit(base_url)
    if parts.query:
        raise UsageError("base_url must not have a query")
    return base_url.rstrip("/")


def _with_response_code(redirect_uri: str, code: str) -> str:
    parts = urllib.parse.urlsplit(redirect_uri)
    query = f"{parts.query}&" if parts.query else ""
    return urllib.parse.urlunsplit(parts._replace(query=f"{query}response_code={code}"))


class RelyingParty:
    """An RP's presentation endpoints as plain methods (see the module docstring).

    ``base_url`` is the RP's public origin (``https://shop.example``, no trailing path needed) and
    ``prefix`` the path the endpoints live under. ``signing_key`` and ``certificate`` are the RP's
    request-signing key and access certificate; ``verifier`` checks responses (e.g.
    :func:`netid.verifier.remote.verifier_for_issuer`). With ``encryption_key`` (a P-256 private key)
    requests ask for ``direct_post.jwt`` by default: the wallet encrypts its response to that key.
    ``store`` defaults to an :class:`~netid.verifier.transactions.InMemoryTransactionStore` (one worker);
    several workers share a :class:`~netid.verifier.http.sql.SqlTransactionStore` (and a shared replay
    cache in the verifier). ``request_ttl`` is each request's lifetime; a transaction takes responses
    until the request's ``exp`` plus the verifier's ``max_presentation_age`` and is forgotten
    ``retention`` seconds after that. ``max_body_bytes`` bounds a response body. ``clock`` (Unix seconds)
    and ``rng`` are injectable for tests.

    :class:`UsageError` if the certificate registers neither ``{base_url}{prefix}/response/`` (a prefix)
    nor ``{base_url}{prefix}/response``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        signing_key: SigningKey,
        certificate: str,
        verifier: Verifier,
        encryption_key: ec.EllipticCurvePrivateKey | None = None,
        store: TransactionStore | None = None,
        prefix: str = "/netid",
        clock: Callable[[], int] = _system_clock,
        rng: Callable[[int], bytes] = secrets.token_bytes,
        request_ttl: int = 300,
        retention: int = 600,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not isinstance(verifier, Verifier):
            raise UsageError("verifier must be a netid.verifier.Verifier")
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)*", prefix):
            raise UsageError("prefix must be empty or a path like '/netid' (no trailing slash)")
        if request_ttl <= 0 or retention < 0 or max_body_bytes <= 0:
            raise UsageError("request_ttl and max_body_bytes must be positive, retention >= 0")
        self.base_url = _check_base_url(base_url)
        self.prefix = prefix
        self.certificate: RpCertificate = rp_certificate_unverified(certificate)
        self.verifier = verifier
        self.store: TransactionStore = store if store is not None else InMemoryTransactionStore()
        self.max_body_bytes = max_body_bytes
        self._certificate_token = certificate
        self._signing_key = signing_key
        self._encryption_key = encryption_key
        self._encryption_jwk = encryption_jwk(encryption_key) if encryption_key is not None else None
        self._clock = clock
        self._rng = rng
        self._request_ttl = request_ttl
        self._retention = retention
        self._next_purge = 0
        root = f"{self.base_url}{prefix}"
        self._response_prefix = f"{root}/response/"
        self.shared_response_uri = f"{root}/response"
        self.per_transaction = self.certificate.response_uri_allowed(
            self._response_prefix + "A" * 22, allow_loopback_http=True
        )
        if not self.per_transaction and not self.certificate.response_uri_allowed(
            self.shared_response_uri, allow_loopback_http=True
        ):
            raise UsageError(
                f"the RP certificate registers neither {self._response_prefix!r} (recommended: one response "
                f"URI per transaction) nor {self.shared_response_uri!r}"
            )

    # --- URLs ---------------------------------------------------------------------------------------

    @property
    def response_mode(self) -> ResponseMode:
        """The default response mode of :meth:`start`: ``direct_post.jwt`` with an encryption key."""
        return ENCRYPTED_RESPONSE_MODE if self._encryption_key is not None else "direct_post"

    def request_uri(self, tx_id: str) -> str:
        """Where the wallet fetches the signed request of transaction ``tx_id``."""
        return f"{self.base_url}{self.prefix}/request/{tx_id}"

    def response_uri(self, tx_id: str) -> str:
        """Where the wallet posts the response of transaction ``tx_id``."""
        return self._response_prefix + tx_id if self.per_transaction else self.shared_response_uri

    # --- the app's side -----------------------------------------------------------------------------

    def start(
        self, query: Query, *, redirect_uri: str | None = None, response_mode: ResponseMode | None = None
    ) -> Transaction:
        """Sign a request for ``query`` and store it as a new pending transaction.

        Show ``tx.qr_text`` as a QR code (cross-device) or a link (same-device) and keep ``tx.id`` in the
        browser's session: it is how the app reads the :meth:`result`. ``redirect_uri`` (same-device) is
        where the wallet sends the browser after answering, with a ``response_code`` the app passes to
        :meth:`result`. ``response_mode`` overrides :attr:`response_mode`. :class:`UsageError` for a
        query the certificate does not allow (as :func:`~netid.verifier.build_request`).
        """
        mode = response_mode if response_mode is not None else self.response_mode
        if mode not in RESPONSE_MODES:
            raise UsageError(f"response_mode must be one of {RESPONSE_MODES}")
        if mode == ENCRYPTED_RESPONSE_MODE and self._encryption_jwk is None:
            raise UsageError("direct_post.jwt needs the RP's encryption_key")
        if redirect_uri is not None and not response_uri_allowed(redirect_uri, allow_loopback_http=True):
            raise UsageError("redirect_uri must be an https URL without fragment (http only to loopback)")
        now = self._clock()
        if now >= self._next_purge:
            self._next_purge = now + _PURGE_INTERVAL
            self.store.purge(now)
        tx_id = b64url_encode(self._rng(_TX_ID_BYTES))
        request = build_request(
            query,
            rp_key=self._signing_key,
            rp_certificate=self._certificate_token,
            response_uri=self.response_uri(tx_id),
            now=now,
            rng=self._rng,
            ttl=self._request_ttl,
            response_mode=mode,
            encryption_jwk=self._encryption_jwk if mode == ENCRYPTED_RESPONSE_MODE else None,
        )
        expires_at = request.exp + self.verifier.policy.max_presentation_age - 1
        tx = Transaction(
            id=tx_id,
            request=request,
            request_uri=self.request_uri(tx_id),
            created_at=now,
            expires_at=expires_at,
            purge_at=expires_at + self._retention,
            redirect_uri=redirect_uri,
        ).with_event(now, f"created ({mode})")
        self.store.add(tx)
        return tx

    def result(self, tx_id: str, *, response_code: str | None = None) -> Result | None:
        """What came of transaction ``tx_id`` (``None`` if unknown or purged). The answers of a
        same-device transaction (started with a ``redirect_uri``) need the ``response_code`` its
        redirect carried; without it the result says ``answered`` but holds no answers."""
        tx = self.store.get(tx_id)
        if tx is None:
            return None
        status = tx.status_at(self._clock())
        if status is not TransactionStatus.ANSWERED:
            return Result(status, error=tx.error)
        if tx.redirect_uri is not None and (
            response_code is None
            or tx.response_code is None
            or not hmac.compare_digest(response_code.encode(), tx.response_code.encode())
        ):
            return Result(status)
        return Result(status, answers=tx.answers)

    def transaction(self, tx_id: str) -> Transaction | None:
        """The stored transaction, with its event log (for operators)."""
        return self.store.get(tx_id)

    def log_refused(self, tx_id: str, error: TransactionError, what: str = "response") -> None:
        """Record in transaction ``tx_id``'s log (if it exists) that a request for it was refused before
        it reached :meth:`receive` (e.g. a body too large to read)."""
        if TRANSACTION_ID_RE.fullmatch(tx_id):
            self.store.log(tx_id, at=self._clock(), event=f"{what} refused: {error.code}")

    def purge(self) -> int:
        """Forget transactions past their retention now (also done by :meth:`start`, every minute)."""
        return self.store.purge(self._clock())

    # --- the wallet's side --------------------------------------------------------------------------

    def _open(self, tx_id: str, now: int, what: str) -> Transaction:
        """The transaction ``tx_id`` if it is still open; else the :class:`TransactionError` why not."""
        tx = self.store.get(tx_id) if TRANSACTION_ID_RE.fullmatch(tx_id) else None
        if tx is None:
            raise TransactionError("unknown_transaction", 404, "no such transaction")
        status = tx.status_at(now)
        if status is TransactionStatus.EXPIRED:
            self._refuse(
                tx, now, what, TransactionError("transaction_expired", 410, "the transaction has expired")
            )
        if status is TransactionStatus.ANSWERED:
            self._refuse(
                tx,
                now,
                what,
                TransactionError("already_answered", 409, "the transaction was answered already"),
            )
        if status is TransactionStatus.FAILED:
            self._refuse(
                tx, now, what, TransactionError("transaction_failed", 409, "the transaction has failed")
            )
        return tx

    def _refuse(self, tx: Transaction, now: int, what: str, error: TransactionError) -> NoReturn:
        """Log a refused attempt in the transaction's event log (nothing else changes) and raise."""
        self.store.log(tx.id, at=now, event=f"{what} refused: {error.code}")
        raise error

    def _changed_meanwhile(self, tx_id: str, now: int, what: str) -> NoReturn:
        """A store transition was refused: another request changed the transaction first."""
        self._open(tx_id, now, what)  # raises why (expired, answered, failed)
        raise TransactionError("transaction_failed", 409, "the transaction changed meanwhile")

    def request_object(self, tx_id: str) -> str:
        """``GET …/request/{tx_id}``: the signed request object; the transaction becomes ``fetched``.
        :class:`TransactionError` if it is unknown (404), expired (410) or closed (409)."""
        now = self._clock()
        tx = self._open(tx_id, now, "request")
        if (
            self.store.transition(tx.id, TransactionStatus.FETCHED, at=now, events=("request fetched",))
            is None
        ):
            self._changed_meanwhile(tx.id, now, "request")
        return tx.request.request_object

    def receive(self, form: Mapping[str, str], *, tx_id: str | None = None) -> dict[str, str]:
        """``POST …/response/{tx_id}`` (or, with a shared response URI, ``POST …/response`` and
        ``tx_id=None``): the wallet's parsed form. Returns the JSON to answer with (``{}`` or
        ``{"redirect_uri": …}``); raises :class:`TransactionError` (order in the module docstring)."""
        now = self._clock()
        if tx_id is None:  # the shared response URI: the (possibly encrypted) state names the transaction
            params = self._shared_params(form)
            state = params.get("state")
            found = self.store.find_by_state(state) if type(state) is str else None
            tx = self._open(found.id if found is not None else "", now, "response")
            if tx.request.response_uri != self.shared_response_uri:
                raise TransactionError("unknown_transaction", 404, "no such transaction at this URI")
            self._check_form(tx, form, now)
        else:
            tx = self._open(tx_id, now, "response")
            if tx.request.response_uri != self._response_prefix + tx.id:
                raise TransactionError("unknown_transaction", 404, "no such transaction at this URI")
            self._check_form(tx, form, now)
            encrypted = "error" not in form and tx.request.response_mode == ENCRYPTED_RESPONSE_MODE
            params = self._decrypt(form["response"], tx, now) if encrypted else form
        request = tx.request
        state = params.get("state")
        if type(state) is not str or not hmac.compare_digest(state.encode(), request.state.encode()):
            self._refuse(
                tx,
                now,
                "response",
                TransactionError("state_mismatch", 400, "the state is not this transaction's"),
            )
        if "error" in params:
            return self._wallet_error(tx, params, now)
        vp_token = params.get("vp_token")
        if vp_token is None:  # an encrypted payload without one
            self._refuse(tx, now, "response", TransactionError("invalid_response", 400, "no vp_token"))
        try:
            answers = self.verifier.verify(vp_token, request)
        except VerificationError as exc:
            self._failed(tx, exc.code, now)
        code = b64url_encode(self._rng(_TX_ID_BYTES)) if tx.redirect_uri is not None else None
        done = self.store.transition(
            tx.id,
            TransactionStatus.ANSWERED,
            at=now,
            events=("response posted", "answered"),
            answers=answers,
            response_code=code,
        )
        if done is None:
            self._changed_meanwhile(tx.id, now, "response")
        if tx.redirect_uri is None or code is None:
            return {}
        return {"redirect_uri": _with_response_code(tx.redirect_uri, code)}

    def _check_form(self, tx: Transaction, form: Mapping[str, str], now: int) -> None:
        """The form has the fields of the transaction's response mode (an error response: either)."""
        if "error" in form:
            return
        if tx.request.response_mode == ENCRYPTED_RESPONSE_MODE:
            if "response" not in form or "vp_token" in form:
                self._refuse(
                    tx,
                    now,
                    "response",
                    TransactionError("invalid_response", 400, "an encrypted response is expected"),
                )
        elif "vp_token" not in form or "response" in form:
            self._refuse(
                tx,
                now,
                "response",
                TransactionError("invalid_response", 400, "vp_token and state are expected"),
            )

    def _decryption_key(self) -> tuple[ec.EllipticCurvePrivateKey, str]:
        if self._encryption_key is None or self._encryption_jwk is None:
            raise TransactionError("invalid_response", 400, "this relying party takes no encrypted response")
        return self._encryption_key, self._encryption_jwk["kid"]

    def _shared_params(self, form: Mapping[str, str]) -> Mapping[str, Any]:
        """At the shared response URI an encrypted response is decrypted first: its state is inside."""
        if "response" not in form or "error" in form:
            return form
        key, kid = self._decryption_key()
        try:
            return decrypt_response(form["response"], key, kid=kid, max_bytes=self.max_body_bytes)
        except VerificationError as exc:
            raise TransactionError("invalid_response", 400, exc.message) from exc

    def _decrypt(self, token: str, tx: Transaction, now: int) -> Mapping[str, Any]:
        key, kid = self._decryption_key()
        try:
            return decrypt_response(token, key, kid=kid, max_bytes=self.max_body_bytes)
        except VerificationError as exc:
            self._refuse(tx, now, "response", TransactionError("invalid_response", 400, exc.message))

    def _failed(self, tx: Transaction, code: str, now: int) -> NoReturn:
        status = 503 if code in _OUTAGES else 400
        if code == "nonce_reused":  # a replay: it must not fail the transaction it copies
            self._refuse(tx, now, "response", TransactionError(code, status, f"verification failed: {code}"))
        changed = self.store.transition(
            tx.id,
            TransactionStatus.FAILED,
            at=now,
            events=("response posted", f"verification failed: {code}"),
            error=code,
        )
        if changed is None:
            self._changed_meanwhile(tx.id, now, "response")
        raise TransactionError(code, status, f"verification failed: {code}")

    def _wallet_error(self, tx: Transaction, params: Mapping[str, Any], now: int) -> dict[str, str]:
        """A wallet's error response (e.g. ``access_denied`` when the holder declined): the transaction
        fails with ``wallet:<error>``; the wallet gets ``{}`` as for any processed response (§8.2)."""
        error = params.get("error")
        code = error if type(error) is str and _WALLET_ERROR_RE.fullmatch(error) else "invalid"
        changed = self.store.transition(
            tx.id, TransactionStatus.FAILED, at=now, events=(f"wallet error: {code}",), error=f"wallet:{code}"
        )
        if changed is None:
            self._changed_meanwhile(tx.id, now, "response")
        # same-device: back to the app, which reads the failure (no response code: there are no answers)
        return {} if tx.redirect_uri is None else {"redirect_uri": tx.redirect_uri}
