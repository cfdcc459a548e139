"""Pending presentation requests, kept between "show the QR code" and "the wallet answered".

A relying party that serves requests by reference (``request_uri``) and receives ``direct_post`` responses
must remember, per transaction, the request it signed — the response is checked against *that*, never
against anything the wallet echoes — and what came of it. A :class:`Transaction` holds:

- its id: 128 random bits, base64url (it appears in the ``request_uri`` and the per-transaction
  ``response_uri``, so it is unguessable), and the request's ``state``;
- the signed :class:`~netid.oid4vp.request.PresentationRequest`;
- its :class:`TransactionStatus`, moving only along :data:`TRANSITIONS`:
  ``pending`` → ``fetched`` (the wallet fetched the request) → ``answered`` (verified) or ``failed``;
  ``expired`` is read, never written: a transaction still open at ``expires_at`` is expired;
- when answered, the :class:`~netid.verifier.answers.Answers` — yes/no answers, the pairwise subject,
  the assurance — and never a presentation or a disclosed value; when failed, the verification code;
- an optional same-device ``redirect_uri`` and the ``response_code`` that protects it;
- an event log an operator can read ("request fetched", "response posted", "verification failed:
  nonce_reused", "answered"), bounded to :data:`MAX_EVENTS` entries.

:class:`TransactionStore` is the interface; :class:`InMemoryTransactionStore` serves one process and the
tests; :class:`netid.verifier.http.sql.SqlTransactionStore` any SQLAlchemy database, for several
workers. Stores do no verification and no I/O beyond their own storage; the relying-party service
(:class:`netid.verifier.http.RelyingParty`) drives them.
"""

from __future__ import annotations

import enum
import heapq
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

from netid.errors import UsageError
from netid.oid4vp.modes import MODES
from netid.oid4vp.request import PresentationRequest
from netid.verifier.answers import Answers, Assurance

__all__ = [
    "MAX_EVENTS",
    "TRANSITIONS",
    "InMemoryTransactionStore",
    "Transaction",
    "TransactionEvent",
    "TransactionStatus",
    "TransactionStore",
    "answers_from_json",
    "answers_to_json",
]


class TransactionStatus(enum.StrEnum):
    """Where a transaction is. Stored as its string value."""

    PENDING = "pending"
    FETCHED = "fetched"
    ANSWERED = "answered"
    FAILED = "failed"
    EXPIRED = "expired"


_S = TransactionStatus
#: every allowed status change, in one place (``expired`` is derived from the clock, never written);
#: a store applies a change only from one of these sources, atomically
TRANSITIONS: Final[Mapping[TransactionStatus, frozenset[TransactionStatus]]] = MappingProxyType(
    {
        _S.FETCHED: frozenset({_S.PENDING, _S.FETCHED}),
        _S.ANSWERED: frozenset({_S.PENDING, _S.FETCHED}),
        _S.FAILED: frozenset({_S.PENDING, _S.FETCHED}),
    }
)
#: the open statuses: a response may still arrive
OPEN: Final = frozenset({_S.PENDING, _S.FETCHED})
#: events kept per transaction; later ones are counted, not kept (a flood cannot grow a transaction)
MAX_EVENTS: Final = 32


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    """One line of a transaction's log: when (Unix seconds) and what (never a disclosed value)."""

    at: int
    message: str


@dataclass(frozen=True, slots=True)
class Transaction:
    """One presentation request and what came of it (see the module docstring).

    ``request_uri`` is where the wallet fetches the signed request; :attr:`qr_text` is the
    ``openid4vp://`` link to show as a QR code (cross-device) or a link (same-device).
    ``expires_at`` is the last second a response is taken (the request's ``exp`` plus the verifier's
    ``max_presentation_age``); ``purge_at`` when the store may forget the transaction.
    """

    id: str
    request: PresentationRequest = field(repr=False)
    request_uri: str
    created_at: int
    expires_at: int
    purge_at: int
    status: TransactionStatus = TransactionStatus.PENDING
    redirect_uri: str | None = None
    answers: Answers | None = field(default=None, repr=False)
    error: str | None = None
    response_code: str | None = field(default=None, repr=False)
    events: tuple[TransactionEvent, ...] = field(default=(), repr=False)
    #: events not kept because :data:`MAX_EVENTS` was reached
    dropped_events: int = 0

    @property
    def state(self) -> str:
        return self.request.state

    @property
    def qr_text(self) -> str:
        """``openid4vp://?client_id=…&request_uri=…&request_uri_method=get``: what the QR code or the
        same-device link carries (the request's values never appear on a screen)."""
        return self.request.to_uri(self.request_uri)

    def status_at(self, now: int) -> TransactionStatus:
        """The status as of ``now``: an open transaction past ``expires_at`` reads ``expired``."""
        if self.status in OPEN and now > self.expires_at:
            return TransactionStatus.EXPIRED
        return self.status

    def with_event(self, at: int, message: str) -> Transaction:
        """A copy with one more event (or one more dropped event, past :data:`MAX_EVENTS`)."""
        if len(self.events) >= MAX_EVENTS:
            return replace(self, dropped_events=self.dropped_events + 1)
        return replace(self, events=(*self.events, TransactionEvent(at, message)))


@runtime_checkable
class TransactionStore(Protocol):
    """Where transactions live between the request and the response. Every method is atomic."""

    def add(self, tx: Transaction) -> None:
        """Store a new transaction. :class:`UsageError` if its id or its state is already stored."""
        ...

    def get(self, tx_id: str) -> Transaction | None:
        """The transaction with this id, or ``None`` (never stored, or purged)."""
        ...

    def find_by_state(self, state: str) -> Transaction | None:
        """The transaction whose request carries this ``state``, or ``None``."""
        ...

    def transition(
        self,
        tx_id: str,
        to: TransactionStatus,
        *,
        at: int,
        events: Sequence[str],
        answers: Answers | None = None,
        error: str | None = None,
        response_code: str | None = None,
    ) -> Transaction | None:
        """Move the transaction to ``to`` if its stored status is one :data:`TRANSITIONS` allows and it
        has not expired at ``at``, recording ``events`` (and, for ``answered``, ``answers`` and the
        ``response_code``; for ``failed``, the ``error`` code). Returns the updated transaction, or
        ``None`` if it is unknown or the change is not allowed (e.g. it was answered meanwhile)."""
        ...

    def log(self, tx_id: str, *, at: int, event: str) -> None:
        """Append ``event`` to the transaction's log without changing anything else (unknown id: no-op)."""
        ...

    def purge(self, now: int) -> int:
        """Forget every transaction whose ``purge_at`` has passed; return how many."""
        ...


def _allowed(tx: Transaction, to: TransactionStatus, at: int) -> bool:
    return tx.status in TRANSITIONS.get(to, frozenset()) and at <= tx.expires_at


class InMemoryTransactionStore:
    """A process-local :class:`TransactionStore` (one worker, tests). Thread-safe. Holds at most
    ``max_transactions``: then :meth:`add` refuses with :class:`UsageError` rather than forget an open
    one (the relying party purges expired ones regularly)."""

    def __init__(self, *, max_transactions: int = 1_000_000) -> None:
        self._by_id: dict[str, Transaction] = {}
        self._by_state: dict[str, str] = {}
        self._purge_heap: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._max = max_transactions

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, tx: Transaction) -> None:
        with self._lock:
            if tx.id in self._by_id or tx.state in self._by_state:
                raise UsageError("a transaction with this id or state is already stored")
            if len(self._by_id) >= self._max:
                raise UsageError("the transaction store is full")
            self._by_id[tx.id] = tx
            self._by_state[tx.state] = tx.id
            heapq.heappush(self._purge_heap, (tx.purge_at, tx.id))

    def get(self, tx_id: str) -> Transaction | None:
        return self._by_id.get(tx_id)

    def find_by_state(self, state: str) -> Transaction | None:
        tx_id = self._by_state.get(state)
        return None if tx_id is None else self._by_id.get(tx_id)

    def transition(
        self,
        tx_id: str,
        to: TransactionStatus,
        *,
        at: int,
        events: Sequence[str],
        answers: Answers | None = None,
        error: str | None = None,
        response_code: str | None = None,
    ) -> Transaction | None:
        with self._lock:
            tx = self._by_id.get(tx_id)
            if tx is None or not _allowed(tx, to, at):
                return None
            room = max(MAX_EVENTS - len(tx.events), 0)
            changes: dict[str, Any] = {
                "status": to,
                "events": tx.events + tuple(TransactionEvent(at, e) for e in events[:room]),
                "dropped_events": tx.dropped_events + max(len(events) - room, 0),
            }
            if to is TransactionStatus.ANSWERED:
                changes.update(answers=answers, response_code=response_code)
            elif to is TransactionStatus.FAILED:
                changes["error"] = error
            changed = replace(tx, **changes)  # one copy: this is on the response endpoint's path
            self._by_id[tx_id] = changed
            return changed

    def log(self, tx_id: str, *, at: int, event: str) -> None:
        with self._lock:
            tx = self._by_id.get(tx_id)
            if tx is not None:
                self._by_id[tx_id] = tx.with_event(at, event)

    def purge(self, now: int) -> int:
        count = 0
        with self._lock:
            heap = self._purge_heap
            while heap and heap[0][0] < now:
                _, tx_id = heapq.heappop(heap)
                tx = self._by_id.pop(tx_id, None)
                if tx is not None:
                    self._by_state.pop(tx.state, None)
                    count += 1
        return count


# --- answers as stored JSON (the SQL store; an app's own session store) --------------------------------


def answers_to_json(answers: Answers) -> dict[str, Any]:
    """:class:`Answers` as a JSON object (booleans, the pairwise subject, the assurance; no values)."""
    out: dict[str, Any] = {
        "predicates": dict(answers.predicates),
        "subject": answers.subject,
        "assurance": {
            "chip_auth": answers.assurance.chip_auth,
            "mode": answers.assurance.mode,
            "level": answers.assurance.level,
        },
        "credential_kind": answers.credential_kind,
    }
    if answers.netno is not None:
        out["netno"] = answers.netno
    return out


def answers_from_json(data: Mapping[str, Any]) -> Answers:
    """Rebuild :class:`Answers` from :func:`answers_to_json` (the RP's own storage; checked for shape).
    :class:`UsageError` if it is not such an object."""
    try:
        predicates = data["predicates"]
        assurance = data["assurance"]
        if not all(type(k) is str and type(v) is bool for k, v in predicates.items()):
            raise TypeError("predicates")
        mode = assurance["mode"]
        level = assurance["level"]
        kind = data["credential_kind"]
        if (
            (mode is not None and mode not in MODES)
            or level not in ("low", "substantial", "high")
            or kind not in ("anonymous", "rp")
        ):
            raise TypeError("assurance or kind")
        subject, netno = data.get("subject"), data.get("netno")
        if not isinstance(subject, str | None) or not isinstance(netno, str | None):
            raise TypeError("subject or netno")
        return Answers(
            predicates=dict(predicates),
            subject=subject,
            assurance=Assurance(str(assurance["chip_auth"]), mode, level),
            credential_kind=kind,
            netno=netno,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"not stored answers: {exc}") from exc
