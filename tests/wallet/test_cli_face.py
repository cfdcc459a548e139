"""`netid face enable|disable|status` as a person (or a script) runs it, against a wallet enrolled with a live
issuer on 127.0.0.1 (real time, so the wallet's netcerts are valid when the command opens it): opt in and
out, what the store then holds (read through the library), and every failure — wrong PIN, no card, a card
that fails passive authentication, another person's card, a child without a guardian's consent, another
face, no camera — with its exit code, and the wallet file byte for byte as it was."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import netid.cli.card
from netid.card.icao.document import EmrtdDocument
from netid.cli import ExitCode, main
from netid.errors import NoCardError
from netid.testing.cards import TestCard, simulator_card
from netid.testing.leaks import find_values, personal_value_forms
from netid.wallet.face import FaceRecord
from netid.wallet.session import WalletSession
from netid.wallet.store import MINIMUM_KDF
from tests.issuer.conftest import LiveIssuer
from tests.test_cli import _FailingReader
from tests.wallet.conftest import PIN
from tests.wallet.http_kit import Stack, live_stack
from tests.wallet.test_present_live import netid as console_script
from tests.wallet.test_present_live import ok_json

pytestmark = pytest.mark.slow

SEED = 71  #: the simulator card (`--reader sim:71`) the shared wallet is enrolled with


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Ran]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``netid`` in process (:func:`netid.cli.main`) with ``$NETID_PIN`` set and ``env`` added for the call;
    no other ``NETID_`` variable of the outer environment leaks in."""
    for name in [n for n in os.environ if n.startswith("NETID_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("NETID_PIN", PIN)

    def run(*argv: str, **env: str) -> Ran:
        with monkeypatch.context() as scoped:
            for name, value in env.items():
                scoped.setenv(name, value)
            code = main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def portrait_of(card: TestCard) -> bytes:
    portrait = EmrtdDocument.from_files(card.files).portrait
    assert portrait
    return portrait


def face_in(wallet: Path, pin: str = PIN) -> FaceRecord | None:
    """What the wallet's store holds, through the library (the record outlives the closed session)."""
    with WalletSession.open(wallet, pin) as session:
        return session.face


def personal_forms(card: TestCard) -> dict[str, str]:
    person = card.person
    return personal_value_forms(
        personal_number=person.personal_number, date_of_birth=person.date_of_birth, full_name=person.full_name
    )


@pytest.fixture(scope="module")
def enrolled_once(live_issuer: LiveIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One wallet enrolled (by the library, minimum Argon2id cost) with the simulator's card SEED — the card
    `--reader sim:SEED` holds — and closed, for the tests to copy."""
    tmp = tmp_path_factory.mktemp("face-cli")
    with live_stack(live_issuer.url, tmp) as stack:
        session = stack.wallet("holder", simulator_card(str(SEED)))
        session.close()
        yield session.store.path


@pytest.fixture
def wallet(enrolled_once: Path, tmp_path: Path) -> Path:
    """A copy of the enrolled wallet, this test's own."""
    copy = tmp_path / "wallet.json"
    shutil.copyfile(enrolled_once, copy)
    return copy


@pytest.fixture
def stack(live_issuer: LiveIssuer, tmp_path: Path) -> Iterator[Stack]:
    with live_stack(live_issuer.url, tmp_path) as s:
        yield s


# --- opting in and out ----------------------------------------------------------------------------------


def test_enable_status_disable(run: Run, wallet: Path) -> None:
    card = simulator_card(str(SEED))
    w = ("--wallet", str(wallet))
    off = run("face", "status", *w)
    assert off.code == ExitCode.OK and "face verification is off" in off.out and face_in(wallet) is None

    enabled = run("face", "enable", "--reader", f"sim:{SEED}", *w, NETID_TEST_FACE="holder")
    assert enabled.code == ExitCode.OK, enabled.err
    assert "face verification is on" in enabled.out
    record = face_in(wallet)  # the store holds the card's own portrait
    assert record is not None and record.portrait == portrait_of(card) and record.guardian is None

    on = run("face", "status", *w)
    assert on.code == ExitCode.OK and "face verification is on since " in on.out
    state = run("face", "status", "--json", *w).json()
    assert state.keys() == {"wallet", "enabled", "enabled_at", "guardian_consent"}
    assert state["enabled"] is True and state["enabled_at"].endswith("Z") and not state["guardian_consent"]
    # neither the portrait nor anything else from the card is shown
    shown = [enabled.out, enabled.err, on.out, on.err, json.dumps(state)]
    assert find_values(shown, personal_forms(card)) == []
    assert not any(portrait_of(card)[-64:].hex() in text for text in shown)

    disabled = run("face", "disable", "--json", *w).json()
    assert disabled["enabled"] is False and disabled["deleted"] is True and face_in(wallet) is None
    assert "face verification is off" in run("face", "status", *w).out
    again = run("face", "disable", *w)  # nothing to delete: still fine
    assert again.code == ExitCode.OK and "it was not on" in again.out


def test_the_console_script_enables_it(wallet: Path) -> None:
    enabled = ok_json(
        console_script("face", "enable", "--json", "--reader", f"sim:{SEED}", wallet=wallet, NETID_PIN=PIN,
                       NETID_TEST_FACE="holder")
    )  # fmt: skip
    assert enabled["enabled"] is True and enabled["wallet"] == str(wallet)
    assert (
        ok_json(console_script("face", "status", "--json", wallet=wallet, NETID_PIN=PIN))["enabled"] is True
    )
    assert face_in(wallet) is not None


def test_the_pin_from_standard_input(run: Run, wallet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETID_PIN")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{PIN}\n"))
    ran = run("face", "enable", "--pin-stdin", "--reader", f"sim:{SEED}", "--wallet", str(wallet),
              NETID_TEST_FACE="holder")  # fmt: skip
    assert ran.code == ExitCode.OK, ran.err
    assert face_in(wallet) is not None


# --- failures: a clear message, the documented exit code, the wallet as it was ------------------------------


def _no_card(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netid.cli.card, "open_reader", lambda spec: _FailingReader(NoCardError("-")))


@dataclass(frozen=True)
class Failure:
    """One way `face enable` fails: its arguments and environment, the exit code, the SDK's code in
    ``--json``'s ``error.code`` (``None``: a usage error), and words of the message."""

    argv: tuple[str, ...]
    code: ExitCode
    reason: str | None
    words: str
    face: str = "holder"  #: NETID_TEST_FACE


SIM = ("--reader", f"sim:{SEED}")
FAILURES = {
    "tampered portrait": Failure(
        ("--reader", f"sim:{SEED}:tampered-dg2"), ExitCode.NOT_VERIFIED, "card", "not authentic"
    ),
    "another person's card": Failure(
        ("--reader", f"sim:{SEED + 1}"), ExitCode.REFUSED, "not_bound", "not the one this wallet"
    ),
    "a stranger at the camera": Failure(SIM, ExitCode.REFUSED, "face_mismatch", "not the card's", "stranger"),
    "a photo at the camera": Failure(SIM, ExitCode.REFUSED, "face_mismatch", "not the card's", "photo"),
    "no camera": Failure(SIM, ExitCode.USAGE, None, "needs a camera", ""),
    "an unknown simulated face": Failure(SIM, ExitCode.USAGE, None, "NETID_TEST_FACE", "twin"),
    "a malformed guardian": Failure((*SIM, "--guardian", "NOTANETNO1"), ExitCode.USAGE, None, "guardian"),
    "a malformed CAN": Failure((*SIM, "--can", "12"), ExitCode.USAGE, None, "--can"),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_a_failed_enable_leaves_the_wallet_as_it_was(run: Run, wallet: Path, failure: Failure) -> None:
    before = wallet.read_bytes()
    ran = run(
        "face", "enable", "--json", "--wallet", str(wallet), *failure.argv, NETID_TEST_FACE=failure.face
    )
    assert ran.code == failure.code, (ran.out, ran.err)
    error = ran.json()["error"]
    assert error["exit_code"] == failure.code and error.get("code") == failure.reason
    assert failure.words in error["message"]
    assert ran.err.count("error: ") == 1 and "hint: " in ran.err and "Traceback" not in ran.err
    assert wallet.read_bytes() == before and face_in(wallet) is None


def test_the_simulated_camera_sees_only_the_simulated_card(
    run: Run, wallet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = wallet.read_bytes()
    _no_card(monkeypatch)  # were the reader touched, this would be exit code 3
    ran = run("face", "enable", "--reader", "pcsc", "--can", "123456", "--wallet", str(wallet),
              NETID_TEST_FACE="holder")  # fmt: skip
    assert ran.code == ExitCode.USAGE and "simulated card" in ran.err and "--reader sim" in ran.err
    assert wallet.read_bytes() == before


def test_no_card_exits_3(run: Run, wallet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = wallet.read_bytes()
    _no_card(monkeypatch)
    ran = run("face", "enable", "--reader", f"sim:{SEED}", "--wallet", str(wallet), NETID_TEST_FACE="holder")
    assert ran.code == ExitCode.READER and "No ID card found" in ran.err and "Traceback" not in ran.err
    assert wallet.read_bytes() == before and face_in(wallet) is None


def test_a_wrong_pin_exits_10_and_enables_nothing(run: Run, wallet: Path) -> None:
    payload = json.loads(wallet.read_text())["payload"]
    ran = run("face", "enable", "--reader", f"sim:{SEED}", "--wallet", str(wallet), NETID_PIN="999999",
              NETID_TEST_FACE="holder")  # fmt: skip
    assert ran.code == ExitCode.PIN and "wrong PIN: 4 tries left" in ran.err
    # the spent try is written (that is what the counter is for); the wallet's contents are untouched
    assert json.loads(wallet.read_text())["payload"] == payload and face_in(wallet) is None
    status = run("face", "status", "--wallet", str(wallet), NETID_PIN="999999")
    assert status.code == ExitCode.PIN


def test_a_wallet_that_is_not_enrolled(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    WalletSession.create(path, PIN, kdf=MINIMUM_KDF)[0].close()
    before = path.read_bytes()
    ran = run("face", "enable", "--reader", f"sim:{SEED}", "--wallet", str(path), NETID_TEST_FACE="holder")
    assert ran.code == ExitCode.FAILED and "not_enrolled" in ran.err and "netid enroll" in ran.err
    assert path.read_bytes() == before
    missing = run("face", "status", "--wallet", str(tmp_path / "none.json"))
    assert missing.code == ExitCode.FAILED and "netid enroll" in missing.err


def test_a_child_needs_a_guardians_consent(run: Run, stack: Stack, tmp_path: Path) -> None:
    parent = stack.wallet("parent", stack.card(80, age=41))
    netno = parent.issuer().netno
    child_card = simulator_card("81:age=12")  # the card `--reader sim:81:age=12` holds: a 12-year-old's
    child = stack.wallet("child", child_card, guardian_netno=netno)
    child.close()
    wallet = child.store.path
    w = ("--wallet", str(wallet), "--reader", "sim:81:age=12")

    before = wallet.read_bytes()
    refused = run("face", "enable", "--json", *w, NETID_TEST_FACE="holder")
    assert refused.code == ExitCode.REFUSED
    error = refused.json()["error"]
    assert error["code"] == "guardian_required" and "--guardian" in error["hint"]
    assert wallet.read_bytes() == before and face_in(wallet) is None

    consented = run("face", "enable", *w, "--guardian", netno, NETID_TEST_FACE="holder")
    assert consented.code == ExitCode.OK, consented.err
    assert "with the guardian's consent" in consented.out
    record = face_in(wallet)
    assert record is not None and record.guardian is not None and record.guardian.guardian_netno == netno
    state = run("face", "status", "--json", "--wallet", str(wallet)).json()
    assert state["enabled"] is True and state["guardian_consent"] is True
    shown = [consented.out, consented.err, json.dumps(state)]
    assert netno not in "".join(shown) and find_values(shown, personal_forms(child_card)) == []


# --- help -------------------------------------------------------------------------------------------------


def test_help(run: Run) -> None:
    group = run("face")  # a group without its command shows its help
    assert group.code == ExitCode.OK
    assert all(command in group.out for command in ("enable", "disable", "status"))
    enable = run("face", "enable", "--help")
    assert enable.code == ExitCode.OK
    text = " ".join(enable.out.split())
    for words in ("--guardian NETNO", "--trust CSCA.pem", "--pin-stdin", "--reader SPEC", "--can NNNNNN",
                  "passive authentication", "under 14", "NETID_TEST_FACE", "Exit code 1"):  # fmt: skip
        assert words in text, words
    status = " ".join(run("face", "status", "--help").out.split())
    assert "never shows the portrait or any personal data" in status
    assert "netid face enable | disable | status" in run("--help").out
