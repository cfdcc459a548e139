"""Status entries under load: a batch meeting taken entries is still claimed in one insert, a claim a
concurrent node beat is drawn again, and concurrent batches over the same lists never deadlock
(PostgreSQL: every batch of 30 updates the ``used`` counts of nearly all open lists)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

from issuer_service.core.context import IssuerContext
from issuer_service.db.base import transaction
from issuer_service.db.tables import Device, IssuedCredential, Person, StatusListRecord
from issuer_service.main import build_context
from issuer_service.services import status
from issuer_service.services.status import claim_entries
from tests.issuer.conftest import InProcessIssuer, settings_for

NOW = dt.datetime(2026, 11, 18, tzinfo=dt.UTC)


def _device(context: IssuerContext) -> str:
    with transaction(context.sessions) as session:
        session.add(
            Person(
                id="p1", lookup_hash="0" * 64, netno="ABCDEFGHJR", attributes_ct=b"x", attributes_dek=b"x",
                kek_id="k", chip_auth="aa", created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        session.flush()
        session.add(Device(id="d1", person_id="p1", key_thumbprint="t", key_jwk={}, created_at=NOW))
    return "d1"


def _rows(n: int) -> list[IssuedCredential]:
    return [
        IssuedCredential(device_id="d1", configuration_id="netcert", iat=0, exp=1, issued_at=NOW)
        for _ in range(n)
    ]


@pytest.fixture
def one_list(issuer: InProcessIssuer) -> Iterator[IssuerContext]:
    """The in-process issuer's context with one open list of 1024 entries, 400 of them taken."""
    context: IssuerContext = issuer.client.app.state.context  # type: ignore[attr-defined]
    _device(context)
    settings = context.settings.model_copy(update={"status_lists_open": 1, "status_list_size": 1024})
    ctx = dataclasses.replace(context, settings=settings)
    with transaction(ctx.sessions) as session:
        claim_entries(session, ctx, "netcert", _rows(400))
    yield ctx


def _statements(context: IssuerContext) -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(context.engine, "before_cursor_execute", record)
    return seen, record


def test_a_batch_meeting_taken_entries_is_claimed_in_one_insert(one_list: IssuerContext) -> None:
    # 400 of 1024 taken: a batch of 30 draws a taken entry with probability 1 - (624/1024)^30 > 0.99
    seen, listener = _statements(one_list)
    try:
        with transaction(one_list.sessions) as session:
            rows = claim_entries(session, one_list, "netcert", _rows(30))
    finally:
        event.remove(one_list.engine, "before_cursor_execute", listener)
    assert len({(r.list_id, r.idx) for r in rows}) == 30
    # one savepoint for the whole batch, never rolled back: not a failed insert, then one savepoint per row
    assert len([s for s in seen if s.startswith("SAVEPOINT")]) == 1
    assert not [s for s in seen if s.startswith("ROLLBACK TO SAVEPOINT")]
    with transaction(one_list.sessions) as session:
        assert session.scalar(select(func.count()).select_from(IssuedCredential)) == 430
        assert session.scalar(select(StatusListRecord.used)) == 430


def test_a_claim_a_concurrent_node_beat_is_drawn_again(
    one_list: IssuerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the check finds nothing taken, as when another node inserted the entry after it looked: the batch
    # insert collides under the unique constraint and each row is claimed on its own
    with transaction(one_list.sessions) as session:
        taken = session.scalars(select(IssuedCredential.idx).limit(1)).one()
    draws = [0, taken]  # list 0 (the only one), then the taken index, for the first row

    def rng(n: int) -> bytes:
        return draws.pop(0).to_bytes(4, "big") if draws and n == 4 else one_list.rng(n)

    monkeypatch.setattr(status, "_taken", lambda *_args: set())
    with transaction(one_list.sessions) as session:
        rows = claim_entries(session, dataclasses.replace(one_list, rng=rng), "netcert", _rows(3))
        assert taken not in {r.idx for r in rows} and len({r.idx for r in rows}) == 3
    with transaction(one_list.sessions) as session:
        assert session.scalar(select(func.count()).select_from(IssuedCredential)) == 403
        assert session.scalar(select(StatusListRecord.used)) == 403


@pytest.mark.slow
def test_concurrent_batches_over_the_same_lists_do_not_deadlock(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    context = build_context(settings_for(tmp_path, database_url=fresh_postgres_url, migrate_on_start=True))
    try:
        _device(context)
        with transaction(context.sessions) as session:  # open the lists before the threads race to
            claim_entries(session, context, "netcert", _rows(1))
        errors: list[BaseException] = []
        start = threading.Barrier(6)

        def issue() -> None:
            try:
                start.wait()
                for _ in range(4):
                    with transaction(context.sessions) as session:
                        claim_entries(session, context, "netcert", _rows(30))
                        time.sleep(0.05)  # the rest of a credential request, locks held
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=issue) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors[0]
        with transaction(context.sessions) as session:
            assert session.scalar(select(func.sum(StatusListRecord.used))) == 1 + 6 * 4 * 30
            pairs = session.execute(select(IssuedCredential.list_id, IssuedCredential.idx)).all()
            assert len(set(pairs)) == len(pairs) == 1 + 6 * 4 * 30
    finally:
        context.keys.close()
        context.engine.dispose()


def test_the_used_counts_match_the_rows(one_list: IssuerContext) -> None:
    with transaction(one_list.sessions) as session:
        session.execute(insert(StatusListRecord).values(
            purpose="netcert", bits=2, size=1024, used=0, closed=False, version=0, created_at=NOW
        ))  # fmt: skip
    settings = one_list.settings.model_copy(update={"status_lists_open": 2})
    ctx = dataclasses.replace(one_list, settings=settings)
    with transaction(ctx.sessions) as session:
        claim_entries(session, ctx, "netcert", _rows(60))
    with transaction(ctx.sessions) as session:
        counted = dict(
            session.execute(
                select(IssuedCredential.list_id, func.count()).group_by(IssuedCredential.list_id)
            ).all()
        )
        used = dict(session.execute(select(StatusListRecord.id, StatusListRecord.used)).all())
    assert counted == used and sum(used.values()) == 460
