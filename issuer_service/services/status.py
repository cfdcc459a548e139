"""Token Status Lists: where every netcert and every RP access certificate has its entry.

**Allocation** (``specs/protocol.md`` §3 rule 6, ``specs/enrollment.md``). Each credential of a batch gets
its entry in an *independently, uniformly chosen* open list and at a uniformly random free index in it,
so neither the list URI nor the index links two credentials of one batch. A list takes entries until half
full (``netid.issuance.status_lists.MAX_FILL``: beyond that the free indices become guessable from the
used ones) and is then closed; new lists open so that ``status_lists_open`` lists are always available.
A batch's draws are checked against the taken entries in one query (a taken one draws again: in lists
up to half full, a batch of 30 nearly always meets one), then inserted in one flush, in a savepoint,
under the ``(list, idx)`` unique constraint: a collision with a concurrent claim (another issuer node)
just draws again.

**Counting.** Each list's ``used`` count moves in one statement per batch, after its rows are locked in
list-id order, so concurrent batches spread over the same lists queue instead of deadlocking
(PostgreSQL); SQLite's transactions hold the database's write lock anyway.

**RP certificates.** An RP's current certificate has the RP's entry, which follows its registry state
(suspended, revoked). An update that changes what the certificate says moves the RP to a fresh entry and
revokes the old one for good (:func:`retire_rp_entry`), so the replaced certificate stops working at once.

**Serving.** :func:`status_list_token` builds the list from the rows whose status is not 0 (sparse) and
signs it with the status-list key; the signed token is cached per list version for ``status_list_ttl``
seconds, and every status change bumps the version.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Final, Literal, TypeVar

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer_service.core.context import CachedToken, IssuerContext
from issuer_service.db.tables import IssuedCredential, RelyingParty, RetiredRpEntry, StatusListRecord
from issuer_service.db.times import utc
from netid.credentials.status_list import StatusList
from netid.issuance.status_lists import MAX_FILL
from netid.issuance.status_lists import status_list_token as sign_status_list

__all__ = [
    "ListPurpose",
    "claim_entries",
    "count_entries",
    "list_uri",
    "place_entries",
    "retire_rp_entry",
    "status_changed",
    "status_list_token",
]

ListPurpose = Literal["netcert", "rp"]
BITS: Final = 2  # 0 valid, 1 revoked, 2 suspended
#: an RP's registry state as its certificate's status
RP_STATUS: Final = {"active": 0, "revoked": 1, "suspended": 2}
_MAX_DRAWS: Final = 64

RowT = TypeVar("RowT", IssuedCredential, RelyingParty)


def list_uri(context: IssuerContext, list_id: int) -> str:
    """The URI a list is served at (and the ``sub`` of its token)."""
    return f"{context.settings.issuer_url}/status/{list_id}"


def _uniform(rng: Callable[[int], bytes], bound: int) -> int:
    """A uniform integer in ``range(bound)`` from ``rng`` (rejection sampling, no modulo bias)."""
    limit = (2**32 // bound) * bound
    while True:
        value = int.from_bytes(rng(4), "big")
        if value < limit:
            return value % bound


def _open_lists(session: Session, context: IssuerContext, purpose: ListPurpose) -> list[StatusListRecord]:
    wanted = context.settings.status_lists_open if purpose == "netcert" else 1
    lists = list(
        session.scalars(
            select(StatusListRecord)
            .where(StatusListRecord.purpose == purpose, StatusListRecord.closed.is_(False))
            .order_by(StatusListRecord.id)
        )
    )
    while len(lists) < wanted:
        record = StatusListRecord(
            purpose=purpose,
            bits=BITS,
            size=context.settings.status_list_size,
            used=0,
            closed=False,
            version=0,
            created_at=utc(context.clock()),
        )
        session.add(record)
        session.flush()
        lists.append(record)
    return lists


def _place(row: IssuedCredential | RelyingParty, list_id: int, idx: int) -> None:
    if isinstance(row, IssuedCredential):
        row.list_id, row.idx = list_id, idx
    else:
        row.status_list_id, row.status_idx = list_id, idx


def _entry(row: IssuedCredential | RelyingParty) -> tuple[int, int]:
    if isinstance(row, IssuedCredential):
        return row.list_id, row.idx
    return row.status_list_id, row.status_idx


def _taken(
    session: Session, purpose: ListPurpose, entries: Iterable[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Which of ``entries`` (list, index) already belong to a row: one query, ``list IN … AND idx IN …``
    (both databases answer it from the credentials' ``(list, idx)`` index, where SQLite would scan the
    whole table for a row-value ``IN``), its few extra matches dropped here."""
    wanted = set(entries)
    if purpose == "netcert":
        list_column, idx_column = IssuedCredential.list_id, IssuedCredential.idx
    else:
        list_column, idx_column = RelyingParty.status_list_id, RelyingParty.status_idx
    lists, indices = {list_id for list_id, _ in wanted}, {idx for _, idx in wanted}
    query = select(list_column, idx_column).where(list_column.in_(lists), idx_column.in_(indices))
    found = {(list_id, idx) for list_id, idx in session.execute(query)}
    if purpose == "rp":  # a replaced certificate's entry stays revoked: never handed out again
        retired = select(RetiredRpEntry.status_list_id, RetiredRpEntry.status_idx).where(
            RetiredRpEntry.status_list_id.in_(lists), RetiredRpEntry.status_idx.in_(indices)
        )
        found |= {(list_id, idx) for list_id, idx in session.execute(retired)}
    return found & wanted


def retire_rp_entry(session: Session, context: IssuerContext, row: RelyingParty) -> tuple[int, int]:
    """Move ``row`` (a registered RP, locked, its registration about to change) to a fresh status entry
    and revoke the entry it had — its current certificate's — for good; return that old entry.

    The caller holds the registry lock (PostgreSQL; SQLite's write lock serializes anyway), so no other
    RP entry is being claimed meanwhile: the draw is checked against the taken and retired entries and
    needs no retry on a unique-constraint collision."""
    old = (row.status_list_id, row.status_idx)
    session.add(
        RetiredRpEntry(
            status_list_id=old[0], status_idx=old[1], rp_id=row.rp_id, certificate_exp=row.certificate_exp,
            retired_at=utc(context.clock()),
        )
    )  # fmt: skip
    session.flush()
    for _ in range(_MAX_DRAWS):
        lists = _open_lists(session, context, "rp")
        chosen = lists[_uniform(context.rng, len(lists))]
        entry = (chosen.id, _uniform(context.rng, chosen.size))
        if not _taken(session, "rp", [entry]):
            break
    else:  # pragma: no cover - 64 taken entries in a row, in a list at most half full
        raise RuntimeError("could not claim a free status entry")
    _place(row, *entry)
    session.flush()
    count_entries(session, [row])
    status_changed(session, old[0])
    return old


def claim_entries(
    session: Session,
    context: IssuerContext,
    purpose: ListPurpose,
    rows: list[RowT],
) -> list[RowT]:
    """Give every row (an :class:`IssuedCredential` or a :class:`RelyingParty`, not yet added) its own
    status entry — list chosen independently per row, index at random — add it to the session, and
    count it in its list: :func:`place_entries`, then :func:`count_entries`."""
    place_entries(session, context, purpose, rows)
    count_entries(session, rows)
    return rows


def place_entries(
    session: Session,
    context: IssuerContext,
    purpose: ListPurpose,
    rows: list[RowT],
) -> list[RowT]:
    """Draw and insert every row's status entry (see :func:`claim_entries`); the caller must then call
    :func:`count_entries` for them in the same transaction — as late as it can: on PostgreSQL that locks
    the lists' rows until the commit.

    The batch is drawn, checked against the entries already taken in one query (each taken one, or one
    drawn twice, draws again), and inserted in one flush in one savepoint. Only if that insert still
    collides — a concurrent node took an entry in between — are the rows claimed one by one, each
    drawing again until its insert succeeds.
    """
    lists = _open_lists(session, context, purpose)
    pending = list(rows)
    for _ in range(_MAX_DRAWS):
        for row in pending:
            chosen = lists[_uniform(context.rng, len(lists))]
            _place(row, chosen.id, _uniform(context.rng, chosen.size))
        taken = _taken(session, purpose, {_entry(row) for row in pending})
        claimed = {_entry(row) for row in rows if row not in pending}
        again = []
        for row in pending:
            entry = _entry(row)
            if entry in taken or entry in claimed:
                again.append(row)
            else:
                claimed.add(entry)
        pending = again
        if not pending:
            break
    else:  # pragma: no cover - 64 rounds with a taken entry, in lists at most half full
        raise RuntimeError("could not claim a free status entry")
    try:
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
    except IntegrityError:
        for row in rows:
            _forget(session, row)
        for row in rows:
            _claim_one(session, context, purpose, row)
    return rows


def _forget(session: Session, row: IssuedCredential | RelyingParty) -> None:
    # a savepoint's rollback expunges what it inserted; a row it never reached is still pending
    if row in session:
        session.expunge(row)


def _claim_one(session: Session, context: IssuerContext, purpose: ListPurpose, row: RowT) -> None:
    for _ in range(_MAX_DRAWS):
        lists = _open_lists(session, context, purpose)
        chosen = lists[_uniform(context.rng, len(lists))]
        _place(row, chosen.id, _uniform(context.rng, chosen.size))
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            _forget(session, row)
            continue  # taken (by us or a concurrent node): draw again
        return
    raise RuntimeError("could not claim a free status entry")  # pragma: no cover - 64 collisions in a row


def count_entries(session: Session, rows: list[RowT]) -> None:
    """Add rows placed by :func:`place_entries` to their lists' ``used`` counts; close lists now half full.

    The lists' rows are locked in id order first (``FOR NO KEY UPDATE``, the lock the UPDATE takes, which
    the ``KEY SHARE`` locks of the batch's own foreign keys do not block): two batches over the same
    lists (every batch of 30 meets nearly all open lists) then wait for each other instead of
    deadlocking, as row-by-row updates in draw order did on PostgreSQL. Then one UPDATE … RETURNING
    moves every count.
    """
    per_list = Counter(_entry(row)[0] for row in rows)
    ids = sorted(per_list)
    session.execute(
        select(StatusListRecord.id)
        .where(StatusListRecord.id.in_(ids))
        .order_by(StatusListRecord.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: the credential rows' foreign keys share
    )
    counted = session.execute(
        update(StatusListRecord)
        .where(StatusListRecord.id.in_(ids))
        .values(used=StatusListRecord.used + case(dict(per_list), value=StatusListRecord.id, else_=0))
        .returning(StatusListRecord.id, StatusListRecord.used, StatusListRecord.size)
        .execution_options(synchronize_session=False)
    ).all()
    full = [list_id for list_id, used, size in counted if used >= size * MAX_FILL]
    if full:
        session.execute(
            update(StatusListRecord)
            .where(StatusListRecord.id.in_(full))
            .values(closed=True)
            .execution_options(synchronize_session=False)
        )
    for record in session.identity_map.values():  # lists loaded in this session: re-read when next used
        if isinstance(record, StatusListRecord) and record.id in per_list:
            session.expire(record, ["used", "closed"])


def status_changed(session: Session, list_id: int) -> None:
    """Call after changing an entry's status (its row): bumps the list's version, so the next fetch
    re-signs it instead of serving the cached token."""
    session.execute(
        update(StatusListRecord)
        .where(StatusListRecord.id == list_id)
        .values(version=StatusListRecord.version + 1)
    )


_cache_lock = threading.Lock()


def status_list_token(session: Session, context: IssuerContext, list_id: int) -> str | None:
    """The signed Status List Token of list ``list_id`` (``None`` if there is no such list).

    Cached per list version for ``status_list_ttl`` seconds; the token's ``exp`` is twice that, its
    ``ttl`` claim that, so verifiers re-fetch on time and a CDN may serve it in between.
    """
    record = session.get(StatusListRecord, list_id)
    if record is None:
        return None
    now = context.clock()
    cache = context.status_cache
    with _cache_lock:
        hit = cache.get(list_id)
        if hit is not None and hit.version == record.version and hit.expires > now:
            return hit.token
    lst = StatusList(record.bits, record.size)
    if record.purpose == "netcert":
        for idx, status in session.execute(
            select(IssuedCredential.idx, IssuedCredential.status).where(
                IssuedCredential.list_id == list_id, IssuedCredential.status != 0
            )
        ):
            lst.set(idx, status)
    else:
        for idx, state in session.execute(
            select(RelyingParty.status_idx, RelyingParty.state).where(
                RelyingParty.status_list_id == list_id, RelyingParty.state != "active"
            )
        ):
            lst.set(idx, RP_STATUS[state])
        for (idx,) in session.execute(
            select(RetiredRpEntry.status_idx).where(RetiredRpEntry.status_list_id == list_id)
        ):
            lst.set(idx, RP_STATUS["revoked"])
    ttl = context.settings.status_list_ttl
    token = sign_status_list(
        lst, context.keys.ring().issuer_keys.status_list, sub=list_uri(context, list_id), iat=now,
        exp=now + 2 * ttl, ttl=ttl,
    )  # fmt: skip
    with _cache_lock:
        cache[list_id] = CachedToken(record.version, token, now + ttl)
    return token
