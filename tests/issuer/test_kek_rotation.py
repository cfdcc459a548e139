"""Rotating the key-encryption key of person records: new records are wrapped with the new KEK at once,
old ones still open until they are re-wrapped, the re-wrap is complete and audited, and another process
sharing the key file takes the new KEK up by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from issuer_service.db.base import transaction
from issuer_service.db.tables import AuditEntry, Person
from issuer_service.keys.file import FileKeyStore
from issuer_service.services.persons import AttributesUnavailable, decrypt_attributes, kek_id, rewrap_persons
from netid.testing.cards import make_card
from tests.issuer.conftest import (
    CARD_TODAY,
    KEYSTORE_PASSPHRASE,
    InProcessIssuer,
    context_of,
    enroll_card,
    issuer_env,
)


def _persons(issuer: InProcessIssuer) -> dict[str, tuple[str, bytes, object]]:
    """Person id -> (kek id, attribute ciphertext, decrypted attributes)."""
    context = context_of(issuer)
    with context.sessions() as session:
        return {
            p.id: (p.kek_id, bytes(p.attributes_ct), decrypt_attributes(p, context))
            for p in session.scalars(select(Person))
        }


def test_a_new_kek_wraps_new_records_and_old_ones_open_until_re_wrapped(issuer: InProcessIssuer) -> None:
    context = context_of(issuer)
    for seed in (71, 72):
        enroll_card(issuer, make_card(seed, today=CARD_TODAY))
    before = _persons(issuer)
    old = kek_id(context.keystore.secret("kek"))
    assert {k for k, _, _ in before.values()} == {old}

    new = kek_id(context.keystore.new_secret_version("kek"))
    assert new != old and kek_id(context.keystore.secret("kek")) == new
    enroll_card(issuer, make_card(73, today=CARD_TODAY))  # wrapped with the new KEK at once
    mixed = _persons(issuer)
    assert sorted(k for k, _, _ in mixed.values()) == sorted([old, old, new])
    assert all(mixed[i][2] == before[i][2] for i in before)  # the old records still open

    with transaction(context.sessions) as session:
        assert rewrap_persons(session, context, limit=1) == (1, 1)
    with transaction(context.sessions) as session:
        assert rewrap_persons(session, context) == (1, 0)
    with transaction(context.sessions) as session:
        assert rewrap_persons(session, context) == (0, 0)
    after = _persons(issuer)
    assert {k for k, _, _ in after.values()} == {new}
    for person_id, (_, ciphertext, attrs) in before.items():
        assert after[person_id][2] == attrs and after[person_id][1] != ciphertext  # re-sealed, same data


def test_a_record_under_a_kek_the_store_lacks_does_not_open(issuer: InProcessIssuer) -> None:
    context = context_of(issuer)
    enroll_card(issuer, make_card(74, today=CARD_TODAY))
    with transaction(context.sessions) as session:
        person = session.scalars(select(Person)).one()
        person.kek_id = kek_id(b"\x00" * 32)
        with pytest.raises(AttributesUnavailable):
            decrypt_attributes(person, context)
        session.rollback()


def test_another_process_takes_the_new_kek_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.json"
    one, two = FileKeyStore(path, KEYSTORE_PASSPHRASE), FileKeyStore(path, KEYSTORE_PASSPHRASE)
    first = one.secret("kek")
    assert two.secret("kek") == first
    second = one.new_secret_version("kek")
    third = two.new_secret_version("kek")  # made knowing the second: numbered after it
    assert len({first, second, third}) == 3
    assert one.secret_versions("kek") == [third, second, first] == two.secret_versions("kek")
    other = FileKeyStore(path, KEYSTORE_PASSPHRASE)
    assert other.secret("kek") == third
    four = FileKeyStore(path, KEYSTORE_PASSPHRASE)
    fourth = one.new_secret_version("kek")
    assert four.secret("kek") == third  # cached ...
    monkeypatch.setattr("issuer_service.keys.file.RELOAD_SECONDS", -1)
    assert four.secret("kek") == fourth  # ... until the next reload
    assert four.secret("lookup") == one.secret("lookup")  # the other secrets have one version


def test_the_rotate_kek_command(issuer: InProcessIssuer) -> None:
    for seed in (75, 76):
        enroll_card(issuer, make_card(seed, today=CARD_TODAY))
    before = _persons(issuer)
    env = os.environ | issuer_env(issuer.tmp, port=8000)
    run = subprocess.run(
        [sys.executable, "-m", "issuer_service", "keys", "rotate-kek"], env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "re-wrapped 2 person records" in run.stdout and "; 0 left" in run.stdout
    after = _persons(issuer)  # the running issuer's store opens them (it finds the new version)
    assert len({k for k, _, _ in after.values()}) == 1 and after.keys() == before.keys()
    assert all(after[i][2] == before[i][2] and after[i][0] != before[i][0] for i in before)
    with context_of(issuer).sessions() as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions[-2:] == ["key.rotate_kek", "persons.rewrap"]
    again = subprocess.run(
        [sys.executable, "-m", "issuer_service", "keys", "rewrap"], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0 and "re-wrapped 0 person records" in again.stdout
