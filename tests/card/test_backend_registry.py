"""Reader specs, reader listing and the plain-English reader messages (no hardware, no services)."""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import pytest

from netid.card.backends import registry
from netid.card.backends.registry import (
    Backend,
    MissingBackendError,
    ReaderInfo,
    backends,
    describe_reader_error,
    list_readers,
    open_reader,
)
from netid.errors import (
    ActiveAuthenticationError,
    CardTimeoutError,
    NoCardError,
    NoReaderError,
    PassiveAuthenticationError,
    ReaderError,
    TagLostError,
    UsageError,
)


def require_backend_package(module: str) -> ModuleType:
    """``module`` (pyscard's ``smartcard``, nfcpy's ``nfc``), which ``make test`` installs: its absence fails
    the test. Only ``make test-fast`` (``NETID_TEST_FAST=1``, on a machine that may lack the system packages
    pyscard compiles against) may skip, and never under ``CI=true``."""
    if importlib.util.find_spec(module) is None:
        if os.environ.get("NETID_TEST_FAST") == "1" and os.environ.get("CI", "").lower() not in ("1", "true"):
            pytest.skip(f"{module} is not installed (make test-fast goes on without it)")
        pytest.fail(f"{module} is not installed: `make test` installs it (with the system packages it needs)")
    return importlib.import_module(module)


def test_pcsc_specs() -> None:
    require_backend_package("smartcard")
    from netid.card.backends.pcsc import PcscReader

    any_reader = open_reader("pcsc")
    named = open_reader("pcsc:Identiv uTrust")
    assert isinstance(any_reader, PcscReader) and isinstance(named, PcscReader)
    assert named.name == "Identiv uTrust"


def test_nfc_specs() -> None:
    require_backend_package("nfc")
    from netid.card.backends.nfc import NfcReader

    for spec, path in [
        ("nfc", "usb"),
        ("nfc:usb", "usb"),
        ("nfc:usb:054c:06c3", "usb:054c:06c3"),
        ("nfc:udp:127.0.0.1:54321", "udp:127.0.0.1:54321"),
        ("NFC:tty:USB0:pn532", "tty:USB0:pn532"),
    ]:
        reader = open_reader(spec)
        assert isinstance(reader, NfcReader)
        assert reader.path == path


def test_sim_spec_reads_like_a_card() -> None:
    testkit = pytest.importorskip("netid.testing.cards")
    from netid.card.icao.read_document import read_document

    reader = open_reader("sim:3")
    card = testkit.make_card(3)
    with reader.connect() as conn:
        readout = read_document(conn, card.access_key, files=(0x0101,))
    assert readout.files[0x0101] == card.image.files[0x0101]


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "usb",
        "pcsc-ish",
        "sim:abc",
        "sim:1:bogus",
        "sim:1:tampered-dg99",
        "sim:1:tampered-dg5",
        "sim:1:cloned:x",
        "sim:1:age=",
        "sim:1:age=x",
        "sim:1:age=-3",
        "sim:1:age=121",
        "sim:1:age=0012",
    ],
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(UsageError):
        open_reader(spec)


def _read_and_verify(spec: str, seed: int) -> None:
    from netid.card.icao.read_document import read_document_with_retry
    from netid.card.icao.verify_document import verify_document
    from netid.testing.cards import make_card

    card = make_card(seed)
    challenge = bytes(range(8))
    readout = read_document_with_retry(open_reader(spec), card.access_key, aa_challenge=challenge)
    verify_document(readout, card.trust_store, challenge=challenge)


def test_sim_faults_make_cards_that_fail_verification() -> None:
    _read_and_verify("sim:5", 5)
    _read_and_verify("sim:5:", 5)
    for dg in (1, 2, 11):
        with pytest.raises(PassiveAuthenticationError) as failed:
            _read_and_verify(f"sim:5:tampered-dg{dg}", 5)
        assert (failed.value.check, failed.value.data_group) == ("dg_hash", f"DG{dg}")
    with pytest.raises(ActiveAuthenticationError):
        _read_and_verify("sim:5:cloned", 5)
    assert "cloned" in open_reader("sim:5:cloned").name  # type: ignore[attr-defined]


def test_sim_age_makes_a_verifiable_card_of_that_age() -> None:
    import datetime as dt

    from netid.card.icao.read_document import read_document_with_retry
    from netid.card.icao.verify_document import verify_document
    from netid.testing.cards import make_card, simulator_card

    card = simulator_card("6:age=12")
    assert card.person.age_on(dt.date.today()) == 12 and card.person == make_card(6, age=12).person
    assert card.person.personal_number != make_card(6).person.personal_number  # the birth date is in it
    challenge = bytes(range(8))
    readout = read_document_with_retry(open_reader("sim:6:age=12"), card.access_key, aa_challenge=challenge)
    document = verify_document(readout, card.trust_store, challenge=challenge)
    assert document.document.date_of_birth == card.person.date_of_birth and document.chip_auth == "aa"
    assert "age 12" in open_reader("sim:6:age=12").name  # type: ignore[attr-defined]


def test_missing_package_is_said_so_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = Backend(
        "ghost", "a reader nobody installed", "netid_ghost:open", "netid_ghost", "pip install 'netid[ghost]'"
    )
    monkeypatch.setitem(registry._BACKENDS, "ghost", missing)
    with pytest.raises(ReaderError) as raised:  # still a ReaderError for callers that catch those
        open_reader("ghost")
    assert (
        isinstance(raised.value, MissingBackendError) and raised.value.install == "pip install 'netid[ghost]'"
    )
    message = describe_reader_error(raised.value)
    assert message == "Missing package for the ghost reader backend: pip install 'netid[ghost]'"
    assert "reported a problem" not in message
    assert missing in backends() and not missing.available()  # listed, not hidden


def test_list_readers_always_offers_the_simulator() -> None:
    readers = list_readers(probe_usb=False)
    assert readers[0] == ReaderInfo("sim", "NetID simulator (test card)", "sim")
    assert all(info.kind in {"sim", "pcsc"} for info in readers)


def test_missing_nfc_reader_is_no_reader() -> None:
    require_backend_package("nfc")
    with pytest.raises(NoReaderError):
        open_reader("nfc:usb:ffff:fffe").connect(timeout=0.1)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (NoReaderError("x"), "No card reader found"),
        (NoCardError("x"), "Place the card flat on the reader"),
        (TagLostError("x"), "Hold it still"),
        (CardTimeoutError("x"), "Hold it still"),
        (ReaderError("driver said no"), "driver said no"),
        (RuntimeError("other"), "other"),
    ],
)
def test_messages_are_plain_english(error: BaseException, words: str) -> None:
    assert words in describe_reader_error(error)


# --- what the card servers announce (pure functions, no stack needed) --------------------------------


def test_contactless_atr_follows_pcsc_part3() -> None:
    from netid.testing.servers.vpcd import contactless_atr

    atr = contactless_atr(bytes.fromhex("8031806573"))
    assert atr[:4] == bytes.fromhex("3B858001")
    assert atr[4:-1] == bytes.fromhex("8031806573")
    check = 0
    for b in atr[1:]:  # TCK makes the XOR of T0..TCK zero
        check ^= b
    assert check == 0
    with pytest.raises(UsageError):
        contactless_atr(bytes(16))


def test_ats_announces_frame_size_and_waiting_time() -> None:
    from netid.testing.servers.nfc_target import build_ats, fwt_seconds

    ats = build_ats(b"\x80\x31", fwi=8)
    assert ats[0] == len(ats) == 7
    assert ats[1] & 0x0F == 8  # FSCI 8: 256-byte frames
    assert ats[3] >> 4 == 8  # FWI
    assert ats[5:] == b"\x80\x31"
    assert round(fwt_seconds(8), 4) == 0.0773
