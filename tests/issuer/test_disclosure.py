"""Lawful disclosure: two distinct approvers, the minimum returned once, a daily limit, every step in the
hash-chained audit log — and never the disclosed data in it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from issuer_service.db.tables import AuditEntry, Device, IssuedCredential, Person
from issuer_service.main import build_context, create_app
from issuer_service.services.audit import verify_chain
from netid.credentials.netno import check_char, format_netno
from netid.testing.cards import TestCard, make_card
from netid.testing.world import NOW, TestClock
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    context_of,
    dump_database,
    enroll_card,
    problem,
    settings_for,
)

CASE = {"case_ref": "TEST-CASE-2026-0042", "reason": "TEST ONLY: court order 42 (fictitious)"}


@pytest.fixture
def limited_issuer(tmp_path: Path) -> Iterator[InProcessIssuer]:
    """An issuer that allows two disclosures a day."""
    settings = settings_for(tmp_path, disclosures_per_day=2)
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock)
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as client:
        yield InProcessIssuer(client, settings, clock, tmp_path)


def enrolled(issuer: InProcessIssuer, seed: int) -> tuple[TestCard, str]:
    """A person enrolled through the whole wallet flow: their card and netno."""
    test_card = make_card(seed, today=CARD_TODAY)
    return test_card, enroll_card(issuer, test_card).netno


def ask(issuer: InProcessIssuer, netno: str, admin: str = "alice", **body: Any) -> dict[str, Any]:
    response = issuer.client.post(
        "/admin/disclosures", json={"netno": netno, **CASE, **body}, headers=issuer.admin(admin)
    )
    assert response.status_code == 201, response.text
    request: dict[str, Any] = response.json()
    return request


def approve(issuer: InProcessIssuer, request_id: str, admin: str = "bob") -> Any:
    return issuer.client.post(f"/admin/disclosures/{request_id}/approve", headers=issuer.admin(admin))


def audit(issuer: InProcessIssuer) -> list[AuditEntry]:
    with context_of(issuer).sessions() as session:
        assert verify_chain(session) is None
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def personal_values(test_card: TestCard) -> list[str]:
    person = test_card.person
    return [
        person.full_name,
        person.personal_number,
        person.date_of_birth.isoformat(),
        person.date_of_birth.strftime("%Y%m%d"),
        person.surname_latin,
    ]


def test_two_administrators_disclose_the_minimum(issuer: InProcessIssuer) -> None:
    test_card, netno = enrolled(issuer, 1)
    issuer.clock.advance(60)
    request = ask(issuer, format_netno(netno).lower())  # folded like any typed netno
    assert request["state"] == "pending" and request["netno"] == netno
    assert request["requested_by"] == "alice" and request["decided_by"] is None

    response = approve(issuer, request["id"], "bob")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["person"] == {
        "full_name": test_card.person.full_name,
        "personal_number": test_card.person.personal_number,
        "date_of_birth": test_card.person.date_of_birth.isoformat(),
    }
    assert body["request"]["state"] == "disclosed" and body["request"]["decided_by"] == "bob"
    [device] = body["devices"]
    assert set(device) == {"created_at", "revoked_at", "credentials"} and device["revoked_at"] is None
    assert device["credentials"], "the issuance log lists the batch"
    for credential in device["credentials"]:
        # the log, never the content: no claims, keys, salts, status-list positions
        assert set(credential) == {"configuration_id", "rp_id", "iat", "exp", "status"}
        assert credential["status"] == "valid" and credential["iat"] < credential["exp"]
    # nothing else about the person: no document expiry, address, device key, other persons
    text = json.dumps(body, ensure_ascii=False)
    assert test_card.person.date_of_expiry.isoformat() not in text and "jwk" not in text

    # once: the request is spent
    problem(approve(issuer, request["id"], "alice"), 409, "conflict")
    problem(approve(issuer, request["id"], "bob"), 409, "conflict")


def test_the_requester_cannot_approve_alone(issuer: InProcessIssuer) -> None:
    test_card, netno = enrolled(issuer, 2)
    request = ask(issuer, netno, "alice")
    refused = approve(issuer, request["id"], "alice")
    problem(refused, 403, "forbidden")
    for value in personal_values(test_card):
        assert value not in refused.text
    # still pending: nothing was disclosed, and the refusal is on record
    status = issuer.client.get(f"/admin/disclosures/{request['id']}", headers=issuer.admin("alice")).json()
    assert status["state"] == "pending"
    last = audit(issuer)[-1]
    assert (last.action, last.actor, last.subject) == ("disclosure.refuse", "admin:alice", netno)
    assert last.details == {"request": request["id"], "case_ref": CASE["case_ref"], "refused": "same_admin"}
    # the second administrator can
    assert approve(issuer, request["id"], "bob").status_code == 200


def test_every_step_is_audited_without_the_disclosed_data(issuer: InProcessIssuer) -> None:
    test_card, netno = enrolled(issuer, 3)
    before = len(audit(issuer))
    issuer.clock.advance(3600)
    first = ask(issuer, netno, "alice")
    approve(issuer, first["id"], "alice")  # refused
    assert approve(issuer, first["id"], "bob").status_code == 200
    second = ask(issuer, netno, "bob")
    rejected = issuer.client.post(
        f"/admin/disclosures/{second['id']}/reject",
        json={"reason": "TEST: no legal basis"},
        headers=issuer.admin(),
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    assert rejected.json()["decided_by"] == "alice"
    problem(approve(issuer, second["id"], "alice"), 409, "conflict")

    entries = audit(issuer)[before:]
    assert [(e.action, e.actor) for e in entries] == [
        ("disclosure.request", "admin:alice"),
        ("disclosure.refuse", "admin:alice"),
        ("disclosure.approve", "admin:bob"),
        ("disclosure.request", "admin:bob"),
        ("disclosure.reject", "admin:alice"),
        ("disclosure.refuse", "admin:alice"),
    ]
    assert all(e.subject == netno for e in entries)  # whose identity, by netno
    assert all(e.details["case_ref"] == CASE["case_ref"] for e in entries)  # why
    assert all(e.at.replace(tzinfo=dt.UTC).timestamp() == issuer.clock() for e in entries)  # when
    approval = entries[2].details
    assert approval["request"] == first["id"] and approval["requested_by"] == "alice"
    assert approval["devices"] == 1 and approval["credentials"] >= 1
    # the free-text reason is bound by its hash, not copied
    assert CASE["reason"] not in json.dumps([e.details for e in entries])
    # no disclosed value anywhere in the log, nor in any audit-log row in the database
    log_text = json.dumps([(e.actor, e.action, e.subject, e.details) for e in entries], ensure_ascii=False)
    for value in personal_values(test_card):
        assert value not in log_text
    log_file = issuer.tmp / "issuer.log"
    if log_file.exists():
        for value in personal_values(test_card):
            assert value not in log_file.read_text()


def test_nothing_personal_outside_the_approval(issuer: InProcessIssuer) -> None:
    """Requests, listings and the database hold the netno and the case — never the identity."""
    test_card, netno = enrolled(issuer, 4)
    request = ask(issuer, netno)
    approve(issuer, request["id"], "bob")
    listing = issuer.client.get("/admin/disclosures", headers=issuer.admin())
    one = issuer.client.get(f"/admin/disclosures/{request['id']}", headers=issuer.admin())
    audit_api = issuer.client.get("/admin/audit?action=disclosure.", headers=issuer.admin())
    assert [d["id"] for d in listing.json()["disclosures"]] == [request["id"]]
    assert len(audit_api.json()["entries"]) == 2
    dump = "\n".join(dump_database(context_of(issuer).engine))
    for value in personal_values(test_card):
        for text in (listing.text, one.text, audit_api.text, dump):
            assert value not in text


def test_the_issuance_log_shows_revocations(issuer: InProcessIssuer) -> None:
    _, netno = enrolled(issuer, 5)
    context = context_of(issuer)
    revoked_at = dt.datetime.fromtimestamp(issuer.clock() + 7200, dt.UTC)
    with context.sessions() as session, session.begin():
        person_id = session.scalars(select(Person.id).where(Person.netno == netno)).one()
        device_id = session.scalars(select(Device.id).where(Device.person_id == person_id)).one()
        session.execute(update(Device).where(Device.id == device_id).values(revoked_at=revoked_at))
        session.execute(
            update(IssuedCredential).where(IssuedCredential.device_id == device_id).values(status=1)
        )
    _, other = enrolled(issuer, 6)  # another person's devices never appear
    body = approve(issuer, ask(issuer, netno)["id"]).json()
    [device] = body["devices"]
    assert device["revoked_at"] == int(revoked_at.timestamp())
    assert {c["status"] for c in device["credentials"]} == {"revoked"}
    assert other not in json.dumps(body)


def test_requests_are_checked(issuer: InProcessIssuer) -> None:
    _, netno = enrolled(issuer, 7)
    mistyped = netno[:-1] + ("1" if netno[-1] == "0" else "0")  # a wrong check character
    unknown = next(body + check_char(body) for body in ("ABCDEFGHJ", "BCDEFGHJK") if body != netno[:-1])
    for body, status, code in (
        ({"netno": mistyped, **CASE}, 422, "validation"),
        ({"netno": unknown, **CASE}, 404, "not_found"),
        ({"netno": netno, **CASE, "case_ref": ""}, 422, "validation"),
        ({"netno": netno, **CASE, "reason": ""}, 422, "validation"),
        ({"netno": netno, **CASE, "reason": "x" * 513}, 422, "validation"),
    ):
        problem(issuer.client.post("/admin/disclosures", json=body, headers=issuer.admin()), status, code)
    problem(approve(issuer, "no-such-request"), 404, "not_found")
    problem(
        issuer.client.post("/admin/disclosures/no-such-request/reject", headers=issuer.admin()),
        404,
        "not_found",
    )
    assert [e.action for e in audit(issuer) if e.action.startswith("disclosure.")] == []


def test_daily_limit(limited_issuer: InProcessIssuer) -> None:
    issuer = limited_issuer
    _, netno = enrolled(issuer, 8)
    first = ask(issuer, netno)
    assert approve(issuer, first["id"]).status_code == 200
    issuer.clock.advance(3600)
    assert approve(issuer, ask(issuer, netno)["id"]).status_code == 200
    third = ask(issuer, netno)
    limited = approve(issuer, third["id"])
    body = problem(limited, 429, "rate_limited")
    # the first disclosure leaves the rolling 24 hours in 23 hours
    assert body["retry_after"] == 23 * 3600 and limited.headers["retry-after"] == str(23 * 3600)
    assert "full_name" not in limited.text
    assert audit(issuer)[-1].details["refused"] == "rate_limited"
    issuer.clock.advance(23 * 3600 - 1)
    problem(approve(issuer, third["id"]), 429, "rate_limited")
    issuer.clock.advance(1)
    assert approve(issuer, third["id"]).status_code == 200


def test_no_disclosures_when_the_limit_is_zero(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, disclosures_per_day=0)
    clock = TestClock(NOW)
    with TestClient(
        create_app(settings, context=build_context(settings, clock=clock)), base_url=settings.issuer_url
    ) as client:
        issuer = InProcessIssuer(client, settings, clock, tmp_path)
        _, netno = enrolled(issuer, 9)
        limited = approve(issuer, ask(issuer, netno)["id"])
        body = problem(limited, 429, "rate_limited")
        assert "retry_after" not in body and "retry-after" not in limited.headers
