"""Transaction stores: in memory and SQL (SQLite here; the same code runs on PostgreSQL) behave alike —
status changes only along the table, atomically; events are bounded; expired transactions purge; answers
are stored as booleans and never as values."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from netid.errors import UsageError
from netid.verifier import Answers, Assurance
from netid.verifier.http import InMemoryTransactionStore, SqlTransactionStore, Transaction, TransactionStore
from netid.verifier.transactions import (
    MAX_EVENTS,
    TRANSITIONS,
    TransactionStatus,
    answers_from_json,
    answers_to_json,
)
from tests.rp.kit import AGE, BASE, PREFIX_URI
from tests.verifier.kit import make_world, register_rp

S = TransactionStatus
ANSWERS = Answers(
    predicates={"age_over_18": True, "name_equals": False},
    subject="ROFY9WXyudILHjrNg6oDfwK0k9E2V2NEWRO6jEppzDg",
    assurance=Assurance("aa", "pin", "substantial"),
    credential_kind="rp",
)
_WORLD = make_world()
_WORLD.rp_cert = register_rp(_WORLD, "shop.example", _WORLD.rp_key, response_uris=(PREFIX_URI,))


def _tx(n: int, *, created: int = 1000, expires: int = 2000, purge: int = 3000) -> Transaction:
    tx_id = f"{n:022d}"
    request = _WORLD.request(AGE, response_uri=PREFIX_URI + tx_id)
    return Transaction(
        id=tx_id,
        request=request,
        request_uri=f"{BASE}/netid/request/{tx_id}",
        created_at=created,
        expires_at=expires,
        purge_at=purge,
    ).with_event(created, "created")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TransactionStore]:
    if request.param == "memory":
        yield InMemoryTransactionStore()
    else:
        engine = create_engine(f"sqlite:///{tmp_path / 'rp.db'}")
        yield SqlTransactionStore(engine)
        engine.dispose()


def test_add_get_and_find(store: TransactionStore) -> None:
    tx = _tx(1)
    store.add(tx)
    got = store.get(tx.id)
    assert got is not None and got.id == tx.id and got.state == tx.state
    assert got.request.request_object == tx.request.request_object and got.request.nonce == tx.request.nonce
    assert got.status is S.PENDING and got.answers is None and got.events == tx.events
    assert got.qr_text == tx.request.to_uri(tx.request_uri) and "request_uri=" in got.qr_text
    found = store.find_by_state(tx.state)
    assert found is not None and found.id == tx.id
    assert store.get("0" * 30) is None and store.find_by_state("nope") is None
    with pytest.raises(UsageError):
        store.add(tx)


def test_status_moves_only_along_the_table(store: TransactionStore) -> None:
    tx = _tx(2)
    store.add(tx)
    assert store.transition(tx.id, S.PENDING, at=1001, events=("x",)) is None  # never a target
    assert store.transition(tx.id, S.EXPIRED, at=1001, events=("x",)) is None  # derived, never written
    fetched = store.transition(tx.id, S.FETCHED, at=1001, events=("request fetched",))
    assert fetched is not None and fetched.status is S.FETCHED
    assert store.transition(tx.id, S.FETCHED, at=1002, events=("request fetched",)) is not None
    done = store.transition(
        tx.id, S.ANSWERED, at=1003, events=("response posted", "answered"), answers=ANSWERS, response_code="c"
    )
    assert done is not None and done.status is S.ANSWERED and done.answers == ANSWERS
    assert done.response_code == "c" and done.error is None
    for target in (S.FETCHED, S.ANSWERED, S.FAILED):  # closed for good
        assert store.transition(tx.id, target, at=1004, events=("again",)) is None
    final = store.get(tx.id)
    assert final is not None and final.answers == ANSWERS
    assert [e.message for e in final.events] == [
        "created",
        "request fetched",
        "request fetched",
        "response posted",
        "answered",
    ]
    assert [e.at for e in final.events] == [1000, 1001, 1002, 1003, 1003]
    assert set(TRANSITIONS) == {S.FETCHED, S.ANSWERED, S.FAILED}


def test_failed_keeps_the_code_and_expired_is_read_from_the_clock(store: TransactionStore) -> None:
    failing, late = _tx(3), _tx(4, expires=1500)
    store.add(failing)
    store.add(late)
    done = store.transition(
        failing.id, S.FAILED, at=1001, events=("verification failed: nonce",), error="nonce"
    )
    assert done is not None and done.status is S.FAILED and done.error == "nonce" and done.answers is None
    assert done.status_at(10**9) is S.FAILED  # closed transactions do not expire
    stored = store.get(late.id)
    assert stored is not None
    assert stored.status_at(1500) is S.PENDING and stored.status_at(1501) is S.EXPIRED
    assert store.transition(late.id, S.ANSWERED, at=1501, events=("x",), answers=ANSWERS) is None
    assert store.transition(late.id, S.FETCHED, at=1501, events=("x",)) is None
    again = store.get(late.id)
    assert again is not None and again.status is S.PENDING and again.answers is None


def test_events_are_bounded(store: TransactionStore) -> None:
    tx = _tx(5)
    store.add(tx)
    for i in range(MAX_EVENTS + 10):
        store.log(tx.id, at=1000 + i, event=f"response refused: state_mismatch {i}")
    got = store.get(tx.id)
    assert got is not None and len(got.events) == MAX_EVENTS and got.dropped_events == 11
    store.log("1" * 22, at=1, event="nobody")  # an unknown id is a no-op


def test_purge_forgets_what_is_past_retention(store: TransactionStore) -> None:
    txs = [_tx(10 + i, purge=3000 + i) for i in range(4)]
    for tx in txs:
        store.add(tx)
    assert store.purge(3000) == 0
    assert store.purge(3002) == 2  # purge_at 3000 and 3001
    assert store.get(txs[0].id) is None and store.find_by_state(txs[1].state) is None
    assert store.get(txs[2].id) is not None
    assert store.purge(10**9) == 2


def test_only_one_concurrent_answer_wins(store: TransactionStore) -> None:
    tx = _tx(20)
    store.add(tx)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def answer() -> None:
        barrier.wait()
        done = store.transition(tx.id, S.ANSWERED, at=1001, events=("answered",), answers=ANSWERS)
        wins.append(done is not None)

    threads = [threading.Thread(target=answer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_answers_roundtrip_as_json_without_values() -> None:
    data = answers_to_json(ANSWERS)
    assert data == {
        "predicates": {"age_over_18": True, "name_equals": False},
        "subject": ANSWERS.subject,
        "assurance": {"chip_auth": "aa", "mode": "pin", "level": "substantial"},
        "credential_kind": "rp",
    }
    assert answers_from_json(data) == ANSWERS
    with_netno = Answers({}, None, Assurance("pa-only", None, "low"), "rp", netno="ABCDEFGHJK")
    assert answers_from_json(answers_to_json(with_netno)) == with_netno
    for bad in (
        {},
        {**data, "predicates": {"x": 1}},
        {**data, "credential_kind": "x"},
        {**data, "subject": 3},
    ):
        with pytest.raises(UsageError):
            answers_from_json(bad)


def test_the_sql_rows_hold_no_presentation(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'rp.db'}")
    store = SqlTransactionStore(engine)
    tx = _tx(30)
    store.add(tx)
    store.transition(tx.id, S.ANSWERED, at=1001, events=("answered",), answers=ANSWERS)
    with engine.connect() as conn:
        rows = [str(v) for table in ("netid_transactions", "netid_transaction_events")
                for row in conn.execute(text(f"SELECT * FROM {table}")) for v in row]  # fmt: skip
    dump = "\n".join(rows)
    assert '"age_over_18": true' in dump and "vp_token" not in dump and "~" not in dump
    # a second store on the same database sees the same transaction (another worker)
    other = SqlTransactionStore(engine)
    seen = other.get(tx.id)
    assert seen is not None and seen.status is S.ANSWERED and seen.answers == ANSWERS
    engine.dispose()
