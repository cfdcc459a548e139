"""The holder's own log, through the in-memory flow (netid.testing.TestWorld): who asked what and what the
wallet answered or refused — and never the values an RP sent to compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netid.credentials.jose import decode_jws_unverified, generate_signing_key, sign_jws
from netid.errors import UsageError, WalletRefusal
from netid.testing import TestWorld
from netid.testing.world import NOW
from netid.verifier import Query, build_counter_request
from netid.wallet.in_person import answer_counter
from netid.wallet.log import LogEntry, export_json, presentation_entry
from netid.wallet.store import WalletStore
from tests.wallet.conftest import PIN, new_store


def _logged_world(**kw: object) -> tuple[TestWorld, list[LogEntry]]:
    world = TestWorld.create(**kw)  # type: ignore[arg-type]
    entries: list[LogEntry] = []
    world.wallet.log = lambda terms, disclosed, refusal: entries.append(
        presentation_entry(terms, disclosed, refusal, at=world.clock())
    )
    return world, entries


def test_an_answer_is_logged_with_who_why_and_what_was_proven() -> None:
    world, entries = _logged_world(credentials=2)
    typed_name = "王小明"  # not the holder's name: the RP compares, the wallet withholds
    request = world.request(Query(purpose="age check", age_over=18, doc_valid=True, name_equals=typed_name))
    answers = world.verifier.verify(world.present(request), request)
    (entry,) = entries
    assert (entry.event, entry.rp_id, entry.rp_name, entry.purpose) == (
        "presented", "shop.example", "Example Shop", "age check",
    )  # fmt: skip
    assert entry.questions == ("age_over_18", "doc_valid", "name_equals") and entry.at == NOW
    assert dict(entry.answers) == {"age_over_18": True, "doc_valid": True, "name_equals": False}
    assert dict(entry.answers) == {k: answers[k] for k in entry.answers}  # what the RP concluded
    assert not entry.subject_shared and not entry.netno_shared
    exported = export_json(entries)
    assert typed_name not in exported and world.person.full_name not in exported

    # the holder's own name: proven, and still not stored
    request = world.request(Query(purpose="age check", name_equals=world.person.full_name))
    world.present(request)
    assert entries[-1].answers == {"name_equals": True}
    assert world.person.full_name not in export_json(entries)
    assert "age check" in entries[-1].summary() and "name_equals: yes" in entries[-1].summary()


def test_a_subject_or_netno_shared_is_logged() -> None:
    world, entries = _logged_world(credentials=0)
    world.mint(1, kind="rp", include_netno=True)
    request = world.request(Query(purpose="sign in", want_subject=True, want_netno=True))
    assert world.verifier.verify(world.present(request), request).subject
    (entry,) = entries
    assert entry.subject_shared and entry.netno_shared
    assert dict(entry.answers) == {"subject": True, "netno": True}
    assert "account identifier shared" in entry.summary() and "network number shared" in entry.summary()


def test_refusals_are_logged_with_their_code() -> None:
    world, entries = _logged_world(credentials=1)
    request = world.request(Query(purpose="age check", age_over=18))
    with pytest.raises(WalletRefusal):
        world.wallet.present(request.to_uri(), now=NOW, consent=lambda p: False, amr="pin")
    assert entries[-1].event == "refused" and entries[-1].refusal == "consent_denied"
    assert entries[-1].rp_name == "Example Shop" and entries[-1].questions == ("age_over_18",)
    assert entries[-1].answers == {}

    # a request signed with another key: nothing about the RP is trusted, so nothing is recorded
    header, payload, _, _ = decode_jws_unverified(request.request_object)
    extra = {k: v for k, v in header.items() if k not in ("alg", "typ", "kid")}
    forged = sign_jws(payload, generate_signing_key("ES256"), typ=header["typ"], extra_headers=extra)
    with pytest.raises(WalletRefusal) as refused:
        world.wallet.present(forged, now=NOW, consent=lambda p: True, amr="pin")
    entry = entries[-1]
    assert entry.event == "refused" and entry.refusal == refused.value.code
    assert entry.rp_id is entry.rp_name is entry.purpose is None
    assert "unverified request" in entry.summary()

    # no credential left: refused, and the credential count is unchanged by the log
    world.present(request)
    with pytest.raises(WalletRefusal):
        world.present(world.request(Query(purpose="age check", age_over=18)))
    assert [e.event for e in entries] == ["refused", "refused", "presented", "refused"]
    assert entries[-1].refusal == "no_credential"


def test_entries_round_trip_and_export() -> None:
    world, entries = _logged_world(credentials=1)
    world.present(world.request(Query(purpose="age check", age_over=18)))
    entries.append(LogEntry(event="revoked", at=NOW + 5, issuer="https://issuer.example", credentials=3))
    document = json.loads(export_json(entries))
    assert document["format"] == "netid-wallet-log/1"
    assert [LogEntry.from_json(e) for e in document["entries"]] == entries
    assert document["entries"][0]["time"].endswith("Z")
    with pytest.raises(UsageError):
        LogEntry.from_json({"event": "presented"})
    with pytest.raises(UsageError):
        LogEntry(event="refused", at=NOW)  # a refusal carries its code
    with pytest.raises(UsageError):
        LogEntry(event="hacked", at=NOW)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        presentation_entry(None, None, None, at=NOW)


def test_the_log_is_kept_encrypted_in_the_store(wallet_path: Path) -> None:
    world = TestWorld.create(credentials=0)
    store, _ = new_store(wallet_path, clock=world.clock)
    world.wallet.keystore = store
    world.wallet.log = lambda t, d, r: store.append_log(presentation_entry(t, d, r, at=world.clock()))
    world.mint(1)
    world.present(world.request(Query(purpose="age check", age_over=18)))
    store.close()
    raw = wallet_path.read_text()
    assert "Example Shop" not in raw and "age_over_18" not in raw and "shop.example" not in raw
    with WalletStore.open(wallet_path, PIN) as again:
        assert [(e.event, e.rp_name) for e in again.log] == [("presented", "Example Shop")]


def test_the_log_keeps_the_newest_entries(wallet_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netid.wallet import store as module

    monkeypatch.setattr(module, "MAX_LOG_ENTRIES", 3)
    store, _ = new_store(wallet_path)
    with store, store.deferred():
        for i in range(5):
            store.append_log(LogEntry(event="refused", at=NOW + i, refusal="request_signature"))
        assert [e.at for e in store.log] == [NOW + 2, NOW + 3, NOW + 4]


def test_an_in_person_answer_and_refusal_are_logged() -> None:
    """A check at a counter is logged like an online one: answered, refused, and a forged counter QR."""
    world, entries = _logged_world(credentials=1)
    query = Query(purpose="age check", age_over=18)
    shown = build_counter_request(
        query, rp_key=world.rp_key, rp_certificate=world.rp_cert, counter_id="door-1", now=world.clock()
    ).to_qr_text()
    with pytest.raises(WalletRefusal):
        answer_counter(shown, world.wallet, now=world.clock(), consent=lambda p: False, amr="pin")
    assert (entries[-1].event, entries[-1].refusal) == ("refused", "consent_denied")
    assert entries[-1].purpose == "age check" and entries[-1].rp_name == "Example Shop"
    assert world.wallet.credentials[0].used is False  # a refusal uses nothing up

    answer_counter(shown, world.wallet, now=world.clock(), consent=lambda p: True, amr="face")
    assert entries[-1].event == "presented" and dict(entries[-1].answers) == {"age_over_18": True}
    assert entries[-1].purpose == "age check"

    with pytest.raises(WalletRefusal):
        answer_counter(shown[:-3] + "AAA", world.wallet, now=world.clock(), consent=lambda p: True, amr="pin")
    assert entries[-1].event == "refused" and entries[-1].rp_id is None  # nothing untrusted recorded
    assert [e.event for e in entries] == ["refused", "presented", "refused"]
