"""Face verification on the holder's device (netid.wallet.face): opt in and out, the portrait only in the
encrypted store, a guardian's consent below 14, "face" in the KB-JWT only after a match — and the PIN path
always there."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from netid.card.icao.document import EmrtdDocument
from netid.card.icao.lds import FID_DG
from netid.errors import UsageError, WalletRefusal
from netid.testing.cards import TestCard, make_card, tamper_file
from netid.verifier import Query
from netid.wallet.face import (
    FaceCapture,
    FaceCheck,
    FaceError,
    GuardianConsent,
    SimulatedCamera,
    SimulatedFaceMatcher,
)
from netid.wallet.session import WalletSession
from netid.wallet.store import MINIMUM_KDF
from tests.issuer.conftest import card_reader, dump_database
from tests.wallet.conftest import PIN
from tests.wallet.http_kit import AGE, Stack, assert_refused, honest_rp, inprocess_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with inprocess_stack(tmp_path) as s:
        yield s


def portrait_of(card: TestCard) -> bytes:
    portrait = EmrtdDocument.from_files(card.files).portrait
    assert portrait
    return portrait


def check(card: TestCard, who: str = "holder") -> FaceCheck:
    return FaceCheck(SimulatedFaceMatcher(), SimulatedCamera(portrait_of(card), who=who))  # type: ignore[arg-type]


def test_the_simulator_tells_the_holder_from_a_stranger_and_a_photo() -> None:
    matcher = SimulatedFaceMatcher()
    portrait = b"portrait bytes"
    holder = matcher.match(SimulatedCamera(portrait)(), portrait)
    assert holder.matched and holder.score > 0.9
    assert not matcher.match(SimulatedCamera(portrait, "stranger")(), portrait).matched
    photo = matcher.match(SimulatedCamera(portrait, "photo")(), portrait)
    assert not photo.matched and photo.score > 0.9  # the right face, but not a live one
    assert not matcher.match(FaceCapture(b"anything", live=True), portrait).matched
    assert "portrait" not in repr(SimulatedCamera(portrait)) and "bytes" not in repr(FaceCapture(b"x", True))
    with pytest.raises(UsageError):
        SimulatedCamera(portrait, "twin")  # type: ignore[arg-type]


def test_opt_in_at_enrollment_keeps_the_portrait_on_the_device(stack: Stack) -> None:
    card = stack.card(71, age=36)
    portrait = portrait_of(card)
    session = stack.wallet("holder", card, face=check(card))
    assert session.face is not None and session.face.portrait == portrait and session.face.guardian is None
    assert "bytes" in repr(session.face) and str(portrait[:8]) not in repr(session.face)

    # never at the issuer: not in its database, not in its log; not in clear in the wallet file
    context = stack.issuer_client.app.state.context  # type: ignore[attr-defined]
    rows = "\n".join(dump_database(context.engine))
    chunk = portrait[1000:1032]
    for form in (chunk.hex(), base64.b64encode(chunk).decode(), base64.urlsafe_b64encode(chunk).decode()):
        assert form not in rows
    log_file = stack.tmp / "issuer" / "issuer.log"
    if log_file.exists():
        assert chunk.hex() not in log_file.read_text(errors="replace")
    raw = session.store.path.read_bytes()
    assert chunk not in raw and base64.urlsafe_b64encode(chunk).rstrip(b"=") not in raw

    # on disk, encrypted: reopened with the PIN it is there; opted out, it is gone from the file
    session.close()
    session = WalletSession.open(session.store.path, PIN, clock=session.clock)
    assert session.face is not None and session.face.portrait == portrait
    assert session.disable_face() and session.face is None and not session.disable_face()
    session.close()
    session = WalletSession.open(session.store.path, PIN, clock=session.clock)
    stack.cleanups.append(session.close)
    assert session.face is None and "face" not in session.store._payload()


def test_face_in_the_kb_jwt_only_after_a_match(stack: Stack) -> None:
    card = stack.card(71, age=36)
    session = stack.wallet("holder", card, face=check(card))
    shop = honest_rp(stack, "shop.example")
    face_check = check(card)
    asked: list[str] = []

    def consent(prompt: object) -> bool:
        asked.append("consent")
        return True

    tx = shop.rp.start(Query(purpose="age check", age_over=18, min_mode="face"))
    outcome = stack.present(session, tx.qr_text, mode="pin+face", face=face_check, consent=consent)
    result = shop.rp.result(tx.id)
    assert result is not None and result.answers is not None
    assert result.answers.assurance.mode == "pin+face" and outcome.mode == "pin+face"
    assert face_check.camera.captures == 1 and asked == ["consent"]  # type: ignore[attr-defined]

    # a stranger or a photo in front of the camera: refused after consent, before anything is signed
    for who in ("stranger", "photo"):
        tx = shop.rp.start(AGE)
        assert_refused(stack, session, tx.qr_text, "face_mismatch", mode="face", face=check(card, who))
        assert shop.rp.result(tx.id).status.value == "fetched"  # type: ignore[union-attr]

    # the RP asks for face; the holder answers with the PIN: the wallet cannot meet it
    tx = shop.rp.start(Query(purpose="age check", age_over=18, min_mode="face"))
    assert_refused(stack, session, tx.qr_text, "mode_unavailable", mode="pin")

    # the PIN path always works, face enabled or not
    tx = shop.rp.start(AGE)
    stack.present(session, tx.qr_text, mode="pin")
    assert shop.rp.result(tx.id).answers.assurance.mode == "pin"  # type: ignore[union-attr]


def test_face_mode_without_opting_in_is_refused_before_any_request(stack: Stack) -> None:
    card = stack.card(71, age=36)
    session = stack.wallet("holder", card)
    shop = honest_rp(stack, "shop.example")
    tx = shop.rp.start(AGE)
    router = stack.router
    assert router is not None
    seen = len(router.seen)
    with pytest.raises(WalletRefusal) as refused:
        stack.present(session, tx.qr_text, mode="face", face=check(card))
    assert refused.value.code == "mode_unavailable" and len(router.seen) == seen


def test_a_guardian_consents_below_14(stack: Stack) -> None:
    parent_card = stack.card(80, age=41)
    parent = stack.wallet("parent", parent_card)
    child_card = stack.card(81, age=12)
    netno = parent.issuer().netno
    child = stack.wallet("child", child_card, guardian_netno=netno)
    with pytest.raises(FaceError) as refused:
        child.enable_face(card_reader(child_card), child_card.access_key, check(child_card))
    assert refused.value.code == "guardian_required" and child.face is None
    consent = GuardianConsent(netno.lower(), given_at=stack.clock())
    record = child.enable_face(
        card_reader(child_card), child_card.access_key, check(child_card), guardian=consent
    )
    assert record.guardian is not None and record.guardian.guardian_netno == netno
    assert netno not in repr(record) and netno not in repr(consent)
    with pytest.raises(UsageError):
        GuardianConsent("NOTANETNO1", given_at=0)

    teen_card = stack.card(82, age=14)
    teen = stack.wallet("teen", teen_card)
    assert teen.enable_face(card_reader(teen_card), teen_card.access_key, check(teen_card)).guardian is None


def test_only_the_enrolled_persons_genuine_card(stack: Stack) -> None:
    card = stack.card(71, age=36)
    session = stack.wallet("holder", card)
    other = stack.card(72, age=30)
    for reader, key, code in (
        (card_reader(other), other.access_key, "not_bound"),  # someone else's card
        (card_reader(card, tamper_file(card.image, FID_DG[2])), card.access_key, "card"),  # a swapped face
    ):
        with pytest.raises(FaceError) as refused:
            session.enable_face(reader, key, check(card))
        assert refused.value.code == code and session.face is None
    with pytest.raises(FaceError) as refused:  # the holder's card, but a stranger at the camera
        session.enable_face(card_reader(card), card.access_key, check(card, "stranger"))
    assert refused.value.code == "face_mismatch" and session.face is None
    # with the CSCA list the card also passes passive authentication
    assert session.enable_face(card_reader(card), card.access_key, check(card), csca=card.trust_store)


def test_face_needs_an_enrollment(tmp_path: Path) -> None:
    card = make_card(5)
    session, _ = WalletSession.create(tmp_path / "w.json", PIN, kdf=MINIMUM_KDF)
    with session, pytest.raises(FaceError) as refused:
        session.enable_face(card_reader(card), card.access_key, check(card))
    assert refused.value.code == "not_enrolled"
