"""A :class:`~netid.verifier.transactions.TransactionStore` in any SQLAlchemy 2 database, for several
workers (or a restart) sharing the RP's pending transactions.

Two tables, created on first use if missing (``netid_transactions`` and ``netid_transaction_events``;
give ``table_prefix`` to rename them). A transaction row holds the signed request (as
:meth:`~netid.oid4vp.request.PresentationRequest.to_dict`), the status, the answers as JSON
(:func:`~netid.verifier.transactions.answers_to_json`: booleans, the pairwise subject, the assurance —
never a presentation or a disclosed value), the same-device redirect and its response code, and the
times; each event is a row of its own. Status changes are one conditional ``UPDATE … WHERE status IN
(…)``, so two workers cannot both answer one transaction.

::

    store = SqlTransactionStore("postgresql+psycopg://rp@db/shop")   # or an Engine
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from netid.errors import UsageError
from netid.oid4vp.request import PresentationRequest
from netid.verifier.answers import Answers
from netid.verifier.transactions import (
    MAX_EVENTS,
    TRANSITIONS,
    Transaction,
    TransactionEvent,
    TransactionStatus,
    answers_from_json,
    answers_to_json,
)

__all__ = ["SqlTransactionStore"]

_REQUEST_CACHE: Final = 4096
_PURGE_CHUNK: Final = 500


class SqlTransactionStore:
    """Transactions in the database at ``engine`` (an :class:`~sqlalchemy.Engine` or a URL). Creates its
    tables if they do not exist. Parsed requests of recently read transactions are cached in memory
    (they never change). An engine made from a URL hides statement values from its errors; one passed in
    should be created with ``hide_parameters=True`` for the same reason."""

    def __init__(self, engine: Engine | str, *, table_prefix: str = "netid_") -> None:
        # hide_parameters: a failed statement's error would otherwise quote its values — a transaction id, a
        # state or a same-device response_code — into a message that logs and telemetry keep
        self.engine = create_engine(engine, hide_parameters=True) if isinstance(engine, str) else engine
        self.metadata = MetaData()
        self.transactions = Table(
            f"{table_prefix}transactions",
            self.metadata,
            Column("id", String(128), primary_key=True),
            Column("state", String(256), nullable=False, unique=True),
            Column("status", String(16), nullable=False),
            Column("request", Text, nullable=False),
            Column("request_uri", Text, nullable=False),
            Column("redirect_uri", Text),
            Column("created_at", BigInteger, nullable=False),
            Column("expires_at", BigInteger, nullable=False),
            Column("purge_at", BigInteger, nullable=False, index=True),
            Column("answers", Text),
            Column("error", String(80)),
            Column("response_code", String(64)),
            Column("dropped_events", Integer, nullable=False, default=0),
        )
        self.events = Table(
            f"{table_prefix}transaction_events",
            self.metadata,
            Column("seq", Integer, primary_key=True, autoincrement=True),
            Column("tx_id", String(128), nullable=False, index=True),
            Column("at", BigInteger, nullable=False),
            Column("message", Text, nullable=False),
        )
        self.metadata.create_all(self.engine)
        self._requests: OrderedDict[str, PresentationRequest] = OrderedDict()
        self._lock = threading.Lock()

    # --- rows ---------------------------------------------------------------------------------------

    def _request(self, tx_id: str, stored: str) -> PresentationRequest:
        with self._lock:
            cached = self._requests.get(tx_id)
            if cached is not None:
                return cached
        request = PresentationRequest.from_dict(json.loads(stored))
        with self._lock:
            self._requests[tx_id] = request
            while len(self._requests) > _REQUEST_CACHE:
                self._requests.popitem(last=False)
        return request

    def _transaction(self, conn: Connection, row: Row[Any]) -> Transaction:
        events = conn.execute(
            select(self.events.c.at, self.events.c.message)
            .where(self.events.c.tx_id == row.id)
            .order_by(self.events.c.seq)
        ).all()
        return Transaction(
            id=row.id,
            request=self._request(row.id, row.request),
            request_uri=row.request_uri,
            created_at=row.created_at,
            expires_at=row.expires_at,
            purge_at=row.purge_at,
            status=TransactionStatus(row.status),
            redirect_uri=row.redirect_uri,
            answers=None if row.answers is None else answers_from_json(json.loads(row.answers)),
            error=row.error,
            response_code=row.response_code,
            events=tuple(TransactionEvent(e.at, e.message) for e in events),
            dropped_events=row.dropped_events,
        )

    def _append(self, conn: Connection, tx_id: str, at: int, messages: Sequence[str]) -> None:
        kept = conn.execute(select(func.count()).where(self.events.c.tx_id == tx_id)).scalar_one()
        room = max(MAX_EVENTS - kept, 0)
        if room:
            conn.execute(
                insert(self.events), [{"tx_id": tx_id, "at": at, "message": m} for m in messages[:room]]
            )
        if len(messages) > room:
            conn.execute(
                update(self.transactions)
                .where(self.transactions.c.id == tx_id)
                .values(dropped_events=self.transactions.c.dropped_events + len(messages) - room)
            )

    # --- TransactionStore ---------------------------------------------------------------------------

    def add(self, tx: Transaction) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(self.transactions).values(
                        id=tx.id,
                        state=tx.state,
                        status=tx.status.value,
                        request=json.dumps(tx.request.to_dict()),
                        request_uri=tx.request_uri,
                        redirect_uri=tx.redirect_uri,
                        created_at=tx.created_at,
                        expires_at=tx.expires_at,
                        purge_at=tx.purge_at,
                        answers=None if tx.answers is None else json.dumps(answers_to_json(tx.answers)),
                        error=tx.error,
                        response_code=tx.response_code,
                        dropped_events=tx.dropped_events,
                    )
                )
                if tx.events:
                    conn.execute(
                        insert(self.events),
                        [{"tx_id": tx.id, "at": e.at, "message": e.message} for e in tx.events],
                    )
        except IntegrityError as exc:
            raise UsageError("a transaction with this id or state is already stored") from exc

    def get(self, tx_id: str) -> Transaction | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.transactions).where(self.transactions.c.id == tx_id)).first()
            return None if row is None else self._transaction(conn, row)

    def find_by_state(self, state: str) -> Transaction | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(self.transactions).where(self.transactions.c.state == state)).first()
            return None if row is None else self._transaction(conn, row)

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
        sources = [s.value for s in TRANSITIONS.get(to, frozenset())]
        values: dict[str, Any] = {"status": to.value}
        if to is TransactionStatus.ANSWERED:
            values["answers"] = None if answers is None else json.dumps(answers_to_json(answers))
            values["response_code"] = response_code
        elif to is TransactionStatus.FAILED:
            values["error"] = error
        with self.engine.begin() as conn:
            t = self.transactions.c
            changed = conn.execute(
                update(self.transactions)
                .where(t.id == tx_id, t.status.in_(sources), t.expires_at >= at)
                .values(**values)
            ).rowcount
            if changed != 1:
                return None
            self._append(conn, tx_id, at, events)
            row = conn.execute(select(self.transactions).where(t.id == tx_id)).one()
            return self._transaction(conn, row)

    def log(self, tx_id: str, *, at: int, event: str) -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(self.transactions.c.id).where(self.transactions.c.id == tx_id)
            ).first()
            if exists is not None:
                self._append(conn, tx_id, at, (event,))

    def purge(self, now: int) -> int:
        with self.engine.begin() as conn:
            gone = list(
                conn.execute(
                    select(self.transactions.c.id).where(self.transactions.c.purge_at < now)
                ).scalars()
            )
            for i in range(0, len(gone), _PURGE_CHUNK):
                chunk = gone[i : i + _PURGE_CHUNK]
                conn.execute(delete(self.events).where(self.events.c.tx_id.in_(chunk)))
                conn.execute(delete(self.transactions).where(self.transactions.c.id.in_(chunk)))
        with self._lock:
            for tx_id in gone:
                self._requests.pop(tx_id, None)
        return len(gone)
