"""Reader specs, reader listing and the plain-English reader messages (no hardware, no services)."""

from __future__ import annotations

import pytest

from netid.card.backends.registry import ReaderInfo, describe_reader_error, list_readers, open_reader
from netid.errors import (
    CardTimeoutError,
    NoCardError,
    NoReaderError,
    ReaderError,
    TagLostError,
    UsageError,
)


def test_pcsc_specs() -> None:
    pytest.importorskip("smartcard")
    from netid.card.backends.pcsc import PcscReader

    any_reader = open_reader("pcsc")
    named = open_reader("pcsc:Identiv uTrust")
    assert isinstance(any_reader, PcscReader) and isinstance(named, PcscReader)
    assert named.name == "Identiv uTrust"


def test_nfc_specs() -> None:
    pytest.importorskip("nfc")
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


@pytest.mark.parametrize("spec", ["", "usb", "pcsc-ish", "sim:abc"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(UsageError):
        open_reader(spec)


def test_list_readers_always_offers_the_simulator() -> None:
    readers = list_readers(probe_usb=False)
    assert readers[0] == ReaderInfo("sim", "NetID simulator (test card)", "sim")
    assert all(info.kind in {"sim", "pcsc"} for info in readers)


def test_missing_nfc_reader_is_no_reader() -> None:
    pytest.importorskip("nfc")
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
