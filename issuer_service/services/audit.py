"""The audit log the national rules require the operator to keep: append-only and hash-chained.

Every entry's ``hash`` is SHA-256 over the previous entry's hash and this entry's canonical JSON
(``seq``, time, actor, action, subject, details), so deleting, reordering or editing any row breaks the
chain from that row on, and :func:`verify_chain` says where. Entries never hold personal data: subjects
are network numbers, RP ids or key ids; details are counts, codes and ids.

Appends are serialised — by a transaction-scoped advisory lock on PostgreSQL, by the write lock every
SQLite transaction takes when it begins — so each entry links to the one committed before it; the unique
``hash`` and the primary key stop a fork even if that were bypassed.

What a chain alone cannot show is a cut at its *end* (the newest rows deleted, or the tail rewritten by
someone who recomputes every later hash): :func:`chain_head` gives the newest ``(seq, hash)``, which an
operator records elsewhere from time to time (a ticket, a notary, another system's log) — every head
recorded once must still be on the chain later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from issuer_service.db.tables import AuditEntry
from issuer_service.db.times import aware, unix, utc

__all__ = [
    "GENESIS",
    "AuditRecord",
    "ChainBreak",
    "append_audit",
    "audit_entries",
    "chain_head",
    "verify_chain",
]

#: the ``prev_hash`` of the first entry
GENESIS: Final = "0" * 64
_AUDIT_LOCK: Final = 0x6E65_7469_6461  # "netida": the advisory lock id of the audit chain
#: rows read per round trip when the whole chain is verified
_VERIFY_BATCH: Final = 1000


def _entry_hash(prev_hash: str, seq: int, fields: Mapping[str, Any]) -> str:
    body = json.dumps({"seq": seq, **fields}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode()).hexdigest()


def _fields(
    at: dt.datetime, actor: str, action: str, subject: str | None, details: Mapping[str, Any]
) -> dict[str, Any]:
    when = aware(at).astimezone(dt.UTC).isoformat(timespec="seconds")
    return {"at": when, "actor": actor, "action": action, "subject": subject, "details": details}


def append_audit(
    session: Session,
    *,
    at: int,
    actor: str,
    action: str,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (``at`` is Unix seconds)."""
    if session.get_bind().dialect.name == "postgresql":
        # one appender at a time across every issuer node, until this transaction ends
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK})
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.hash
    when = utc(at)
    body = dict(details or {})
    entry = AuditEntry(
        seq=seq, at=when, actor=actor, action=action, subject=subject, details=body, prev_hash=prev,
        hash=_entry_hash(prev, seq, _fields(when, actor, action, subject, body)),
    )  # fmt: skip
    session.add(entry)
    session.flush()  # the primary key and the unique hash collide here if another append raced us
    return entry


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where the chain stops holding: the first ``seq`` whose link or hash does not verify, and why."""

    seq: int
    reason: str


def verify_chain(session: Session) -> ChainBreak | None:
    """``None`` if every entry links to its predecessor and hashes correctly; else the first break."""
    prev = GENESIS
    expected_seq = 1
    rows = session.execute(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=_VERIFY_BATCH)
    )
    for entry in rows.scalars():
        if entry.seq != expected_seq:
            return ChainBreak(expected_seq, "an entry is missing")
        if entry.prev_hash != prev:
            return ChainBreak(entry.seq, "the link to the previous entry is broken")
        fields = _fields(entry.at, entry.actor, entry.action, entry.subject, entry.details)
        if _entry_hash(prev, entry.seq, fields) != entry.hash:
            return ChainBreak(entry.seq, "the entry was altered")
        prev = entry.hash
        expected_seq += 1
    return None


def chain_head(session: Session) -> tuple[int, str] | None:
    """The newest entry's ``(seq, hash)`` (``None`` for an empty log): record it elsewhere to detect a
    later cut at the end of the chain (see the module docstring)."""
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return None if row is None else (row.seq, row.hash)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry as the admin API shows it (``at`` in Unix seconds)."""

    seq: int
    at: int
    actor: str
    action: str
    subject: str | None
    details: Mapping[str, Any]
    hash: str


def audit_entries(
    session: Session, *, after: int = 0, limit: int = 100, action: str | None = None
) -> list[AuditRecord]:
    """Entries with ``seq > after``, oldest first, at most ``limit``; with ``action``, only that action or,
    if it ends in ``.``, that family (``"disclosure."``)."""
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    if action is not None:
        query = query.where(
            AuditEntry.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditEntry.action == action
        )
    return [
        AuditRecord(
            seq=e.seq,
            at=unix(e.at),
            actor=e.actor,
            action=e.action,
            subject=e.subject,
            details=dict(e.details),
            hash=e.hash,
        )
        for e in session.scalars(query)
    ]
