"""The audit log's hash chain: appends verify; an edited, deleted or reordered row is found at its seq;
concurrent appends never fork the chain; the admin API reports it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from typing import Any

import pytest
from sqlalchemy import text

from issuer_service.core.context import IssuerContext
from issuer_service.db.base import transaction
from issuer_service.services.audit import (
    GENESIS,
    ChainBreak,
    append_audit,
    audit_entries,
    chain_head,
    verify_chain,
)
from tests.issuer.conftest import InProcessIssuer, context_of


def fill(context: IssuerContext, count: int) -> None:
    for i in range(count):
        with transaction(context.sessions) as session:
            append_audit(
                session, at=context.clock() + i, actor="admin:alice", action="test.step", subject=f"s{i + 1}",
                details={"n": i + 1, "text": "读取 café"},
            )  # fmt: skip


def check(context: IssuerContext) -> ChainBreak | None:
    with context.sessions() as session:
        return verify_chain(session)


def sql(context: IssuerContext, statement: str, **params: Any) -> None:
    """Tamper with the table behind the service's back, as someone with database access could."""
    with context.engine.begin() as connection:
        connection.execute(text(statement), params)


def test_entries_chain_and_verify(issuer: InProcessIssuer) -> None:
    context = context_of(issuer)
    assert check(context) is None
    with context.sessions() as session:
        assert chain_head(session) is None
    fill(context, 5)
    assert check(context) is None
    with context.sessions() as session:
        entries = audit_entries(session)
        head = chain_head(session)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert head == (5, entries[-1].hash)
    assert entries[0].details == {"n": 1, "text": "读取 café"}
    with context.sessions() as session:
        first = session.execute(text("SELECT prev_hash FROM audit_log WHERE seq = 1")).scalar_one()
        links = session.execute(
            text("SELECT a.prev_hash = b.hash FROM audit_log a JOIN audit_log b ON b.seq = a.seq - 1")
        )
        assert first == GENESIS and all(ok for (ok,) in links)


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        ('UPDATE audit_log SET details = \'{"n": 99, "text": "读取 café"}\' WHERE seq = 3', 3, "altered"),
        ("UPDATE audit_log SET actor = 'admin:mallory' WHERE seq = 2", 2, "altered"),
        ("UPDATE audit_log SET subject = NULL WHERE seq = 4", 4, "altered"),
        ("UPDATE audit_log SET at = '2020-01-01 00:00:00.000000' WHERE seq = 1", 1, "altered"),
        ("DELETE FROM audit_log WHERE seq = 3", 3, "missing"),
        ("DELETE FROM audit_log WHERE seq = 1", 1, "missing"),
    ],
)
def test_tampering_is_found_at_its_seq(issuer: InProcessIssuer, tamper: str, seq: int, reason: str) -> None:
    context = context_of(issuer)
    fill(context, 5)
    sql(context, tamper)
    found = check(context)
    assert found is not None and found.seq == seq and reason in found.reason


def test_a_recomputed_hash_breaks_the_next_link(issuer: InProcessIssuer) -> None:
    """Someone edits row 2 and recomputes its hash as the module documents it: row 3 no longer links."""
    context = context_of(issuer)
    fill(context, 5)
    with context.sessions() as session:
        row = session.execute(
            text("SELECT seq, at, actor, action, subject, prev_hash FROM audit_log WHERE seq = 2")
        ).one()
    at = dt.datetime.fromisoformat(row.at).replace(tzinfo=dt.UTC).isoformat(timespec="seconds")
    details = {"n": 2, "text": "edited"}
    body = {
        "seq": 2,
        "at": at,
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "details": details,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    forged = hashlib.sha256(bytes.fromhex(row.prev_hash) + canonical).hexdigest()
    sql(
        context, "UPDATE audit_log SET details = :d, hash = :h WHERE seq = 2", d=json.dumps(details), h=forged
    )
    found = check(context)
    assert found is not None and found.seq == 3 and "link" in found.reason


def test_reordering_is_found(issuer: InProcessIssuer) -> None:
    """Rows 2 and 4 swap places: each keeps its content and hashes, under the other's seq."""
    context = context_of(issuer)
    fill(context, 5)
    columns = "at, actor, action, subject, details, prev_hash, hash"
    sql(context, "CREATE TEMP TABLE swap AS SELECT seq, " + columns + " FROM audit_log WHERE seq IN (2, 4)")
    sql(context, "UPDATE audit_log SET hash = 'x' || seq WHERE seq IN (2, 4)")  # free the unique hashes
    for target, source in ((2, 4), (4, 2)):
        sql(
            context,
            f"UPDATE audit_log SET ({columns}) = (SELECT {columns} FROM swap WHERE seq = :source) "
            "WHERE seq = :target",
            source=source,
            target=target,
        )
    found = check(context)
    assert found is not None and found.seq == 2 and "link" in found.reason


def test_a_cut_at_the_end_shows_only_against_a_recorded_head(issuer: InProcessIssuer) -> None:
    context = context_of(issuer)
    fill(context, 4)
    with context.sessions() as session:
        recorded = chain_head(session)
    sql(context, "DELETE FROM audit_log WHERE seq = 4")
    assert check(context) is None  # a shorter chain is a valid chain ...
    with context.sessions() as session:
        assert chain_head(session) != recorded  # ... which the recorded head exposes


def test_concurrent_appends_never_fork(issuer: InProcessIssuer) -> None:
    context = context_of(issuer)
    threads, each = 8, 15
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def append_many(worker: int) -> None:
        try:
            start.wait()
            for i in range(each):
                with transaction(context.sessions) as session:
                    append_audit(
                        session, at=context.clock(), actor=f"worker:{worker}", action="test.concurrent",
                        details={"i": i},
                    )  # fmt: skip
        except BaseException as exc:  # collected, then failed on in the main thread
            errors.append(exc)

    workers = [threading.Thread(target=append_many, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert check(context) is None
    with context.sessions() as session:
        rows = session.execute(
            text("SELECT count(*), count(DISTINCT prev_hash), max(seq) FROM audit_log")
        ).one()
    assert tuple(rows) == (threads * each, threads * each, threads * each)  # one line, no two share a parent


def test_admin_endpoint_reports_the_chain(issuer: InProcessIssuer) -> None:
    context = context_of(issuer)
    empty = issuer.client.get("/admin/audit/verify", headers=issuer.admin())
    assert empty.status_code == 200 and empty.json() == {"ok": True}
    fill(context, 3)
    ok = issuer.client.get("/admin/audit/verify", headers=issuer.admin()).json()
    assert ok["ok"] is True and ok["head"]["seq"] == 3 and "break" not in ok
    sql(context, "UPDATE audit_log SET details = '{}' WHERE seq = 2")
    broken = issuer.client.get("/admin/audit/verify", headers=issuer.admin("bob")).json()
    assert broken["ok"] is False
    assert broken["break"] == {"seq": 2, "reason": "the entry was altered"}


def test_admin_endpoint_lists_entries(issuer: InProcessIssuer) -> None:
    context = context_of(issuer)
    fill(context, 5)
    with transaction(context.sessions) as session:
        append_audit(session, at=context.clock(), actor="admin:bob", action="rp.register", subject="x")
    page = issuer.client.get("/admin/audit?after=2&limit=2", headers=issuer.admin()).json()["entries"]
    assert [e["seq"] for e in page] == [3, 4]
    assert page[0]["actor"] == "admin:alice" and page[0]["details"] == {"n": 3, "text": "读取 café"}
    assert page[0]["at"] == context.clock() + 2
    only = issuer.client.get("/admin/audit?action=rp.register", headers=issuer.admin()).json()["entries"]
    family = issuer.client.get("/admin/audit?action=rp.", headers=issuer.admin()).json()["entries"]
    assert [e["seq"] for e in only] == [e["seq"] for e in family] == [6]
    assert issuer.client.get("/admin/audit?action=test_step", headers=issuer.admin()).json() == {
        "entries": []
    }
    bad = issuer.client.get("/admin/audit?limit=0", headers=issuer.admin())
    assert bad.status_code == 422
