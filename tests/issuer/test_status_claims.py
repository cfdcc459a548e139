"""Status entries: a batch spread over independently chosen lists at random indices, never sharing one,
collisions with taken entries drawn again, lists closed at half full."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from issuer_service.core.context import IssuerContext
from issuer_service.db.base import transaction
from issuer_service.db.tables import Device, IssuedCredential, Person, StatusListRecord
from issuer_service.services.status import claim_entries
from tests.issuer.conftest import InProcessIssuer

NOW = dt.datetime(2026, 11, 18, tzinfo=dt.UTC)


def _device(context: IssuerContext) -> str:
    with transaction(context.sessions) as session:
        person = Person(
            id="p1", lookup_hash="0" * 64, netno="ABCDEFGHJR", attributes_ct=b"x", attributes_dek=b"x",
            kek_id="k", chip_auth="aa", created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        session.add(person)
        session.flush()
        session.add(Device(id="d1", person_id="p1", key_thumbprint="t", key_jwk={}, created_at=NOW))
    return "d1"


def _rows(n: int, device: str) -> list[IssuedCredential]:
    return [
        IssuedCredential(device_id=device, configuration_id="netcert", iat=0, exp=1, issued_at=NOW)
        for _ in range(n)
    ]


@pytest.fixture
def context(issuer: InProcessIssuer) -> Iterator[IssuerContext]:
    ctx: IssuerContext = issuer.client.app.state.context  # type: ignore[attr-defined]
    _device(ctx)
    yield ctx


def test_a_batch_gets_distinct_entries_in_independent_lists(context: IssuerContext) -> None:
    with transaction(context.sessions) as session:
        rows = claim_entries(session, context, "netcert", _rows(30, "d1"))
        entries = {(r.list_id, r.idx) for r in rows}
        assert len(entries) == 30
        assert len({r.list_id for r in rows}) > 1  # spread over the open lists, not one list per batch
        idx = sorted(r.idx for r in rows)
        assert idx[-1] - idx[0] > 1000  # random, not consecutive
    with transaction(context.sessions) as session:
        assert session.scalar(select(func.sum(StatusListRecord.used))) == 30


def _scripted(values: list[int], then: Callable[[int], bytes]) -> Callable[[int], bytes]:
    queue = list(values)

    def rng(n: int) -> bytes:
        return queue.pop(0).to_bytes(4, "big") if queue and n == 4 else then(n)

    return rng


def test_a_taken_entry_is_drawn_again(context: IssuerContext) -> None:
    one_list = context.settings.model_copy(update={"status_lists_open": 1})
    with transaction(context.sessions) as session:
        first = claim_entries(
            session, dataclasses.replace(context, settings=one_list), "netcert", _rows(1, "d1")
        )
    taken = first[0].idx
    # the next batch draws the taken index first for both of its rows: the batch insert collides, and
    # each row is then claimed on its own, drawing again
    rng = _scripted([0, taken, 0, taken, 0, taken], then=context.rng)
    again = dataclasses.replace(context, settings=one_list, rng=rng)
    with transaction(context.sessions) as session:
        rows = claim_entries(session, again, "netcert", _rows(2, "d1"))
        assert taken not in {r.idx for r in rows} and rows[0].idx != rows[1].idx
    with transaction(context.sessions) as session:
        assert session.scalar(select(func.count()).select_from(IssuedCredential)) == 3


def test_a_list_closes_at_half_full(context: IssuerContext) -> None:
    small = context.settings.model_copy(update={"status_lists_open": 1, "status_list_size": 1024})
    ctx = dataclasses.replace(context, settings=small)
    with transaction(context.sessions) as session:
        claim_entries(session, ctx, "netcert", _rows(512, "d1"))
    with transaction(context.sessions) as session:
        lists = list(session.scalars(select(StatusListRecord).order_by(StatusListRecord.id)))
        assert [(lst.used, lst.closed) for lst in lists] == [(512, True)]
        rows = claim_entries(session, ctx, "netcert", _rows(1, "d1"))
        assert rows[0].list_id != lists[0].id  # a new list opened
