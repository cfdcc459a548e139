"""Token Status Lists: where every netcert and every RP access certificate has its entry.

**Allocation** (``specs/protocol.md`` §3 rule 6, ``specs/enrollment.md``). Each credential of a batch gets
its entry in an *independently, uniformly chosen* open list and at a uniformly random free index in it,
so neither the list URI nor the index links two credentials of one batch. A list takes entries until half
full (``netid.issuance.status_lists.MAX_FILL``: beyond that the free indices become guessable from the
used ones) and is then closed; new lists open so that ``status_lists_open`` lists are always available.
An index is claimed by inserting the row that owns it under the ``(list, idx)`` unique constraint, in a
savepoint: a collision with a concurrent claim (another issuer node) just draws again.

**Serving.** :func:`status_list_token` builds the list from the rows whose status is not 0 (sparse) and
signs it with the status-list key; the signed token is cached per list version for ``status_list_ttl``
seconds, and every status change bumps the version.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Final, Literal, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer_service.core.context import CachedToken, IssuerContext
from issuer_service.db.tables import IssuedCredential, RelyingParty, StatusListRecord
from netid.credentials.status_list import StatusList
from netid.issuance.status_lists import MAX_FILL
from netid.issuance.status_lists import status_list_token as sign_status_list

__all__ = ["ListPurpose", "claim_entries", "list_uri", "status_changed", "status_list_token"]

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
            created_at=dt.datetime.fromtimestamp(context.clock(), dt.UTC),
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


def claim_entries(
    session: Session,
    context: IssuerContext,
    purpose: ListPurpose,
    rows: list[RowT],
) -> list[RowT]:
    """Give every row (an :class:`IssuedCredential` or a :class:`RelyingParty`, not yet added) its own
    status entry — list chosen independently per row, index at random — and add it to the session.

    The whole batch is drawn and inserted in one flush (one savepoint, one multi-row insert); only if
    that collides with an entry already taken — by this batch or a concurrent node, rare in lists at
    most half full — are the rows claimed one by one, each drawing again until its insert succeeds.
    """
    lists = _open_lists(session, context, purpose)
    for row in rows:
        chosen = lists[_uniform(context.rng, len(lists))]
        _place(row, chosen.id, _uniform(context.rng, chosen.size))
    try:
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
    except IntegrityError:
        for row in rows:
            _forget(session, row)
        for row in rows:
            _claim_one(session, context, purpose, row)
    _count_used(session, rows)
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


def _count_used(session: Session, rows: list[RowT]) -> None:
    """Add the batch to its lists' ``used`` counts (one atomic UPDATE per list); close lists now half full."""
    per_list: dict[int, int] = {}
    for row in rows:
        list_id = row.list_id if isinstance(row, IssuedCredential) else row.status_list_id
        per_list[list_id] = per_list.get(list_id, 0) + 1
    for list_id, count in per_list.items():
        session.execute(
            update(StatusListRecord)
            .where(StatusListRecord.id == list_id)
            .values(used=StatusListRecord.used + count)
        )
    for record in session.scalars(select(StatusListRecord).where(StatusListRecord.id.in_(per_list))):
        session.refresh(record, ["used"])
        if record.used >= record.size * MAX_FILL:
            record.closed = True


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
    ttl = context.settings.status_list_ttl
    token = sign_status_list(
        lst, context.keys.ring().issuer_keys.status_list, sub=list_uri(context, list_id), iat=now,
        exp=now + 2 * ttl, ttl=ttl,
    )  # fmt: skip
    with _cache_lock:
        cache[list_id] = CachedToken(record.version, token, now + ttl)
    return token
