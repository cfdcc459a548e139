"""PcscReader through the real stack: pyscard -> libpcsclite -> private pcscd -> vpcd driver -> VpcdCard.

Transport tests use a tiny file card (tests/integration/file_card.py); the full eMRTD reads run the
chip simulator and the ICAO read driver over the same stack.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from netid.card.apdu import CommandAPDU, ResponseAPDU
from netid.card.backends.pcsc import PcscReader, list_pcsc_readers
from netid.errors import NoCardError, NoReaderError, TagLostError
from netid.testing.servers.vpcd import contactless_atr
from tests.integration.file_card import CLA_PROPRIETARY, INS_ECHO, FileCard, pattern, read, select
from tests.integration.pcsc_env import READER_NAME, wait_reader_empty

pytestmark = pytest.mark.slow

Slot = Callable[..., object]


def test_private_reader_is_listed(pcscd: object) -> None:
    assert READER_NAME in list_pcsc_readers()


def test_short_and_extended_apdus(vpcd_slot: Slot) -> None:
    app = FileCard()
    vpcd_slot(app)
    reader = PcscReader("netid vpcd 00 00")  # case-insensitive substring
    with reader.connect(timeout=5) as conn:
        assert conn.ats == contactless_atr(app.historical_bytes)
        assert ResponseAPDU.from_bytes(conn.transceive(select(0x0101))).ok
        short = ResponseAPDU.from_bytes(conn.transceive(read(0, 93)))
        assert short.ok and short.data == app.files[0x0101]

        assert ResponseAPDU.from_bytes(conn.transceive(select(0x011E))).ok
        big = ResponseAPDU.from_bytes(conn.transceive(read(0, 3000)))  # extended Le
        assert big.ok and big.data == app.files[0x011E][:3000]

        payload = pattern(4096, 9)
        echo = CommandAPDU(CLA_PROPRIETARY, INS_ECHO, 0, 0, payload, ne=65536).to_bytes()
        assert len(echo) > 4096
        assert conn.transceive(echo) == payload + b"\x90\x00"
        assert conn.apdu_count == 5
    reader.close()


def test_get_response_and_wrong_le_are_handled_by_the_transport(vpcd_slot: Slot) -> None:
    app = FileCard()
    vpcd_slot(app)
    reader = PcscReader(READER_NAME)
    with reader.connect(timeout=5) as conn:
        # 61xx: the transport fetches the data with GET RESPONSE
        assert conn.transceive(bytes((0x80, 0x61, 40, 0x00))) == pattern(40, 3) + b"\x90\x00"
        # 6Cxx: the transport re-sends with the Le the card asked for
        assert conn.transceive(bytes((0x80, 0x6C, 8, 0x00, 0x20))) == pattern(8, 4) + b"\x90\x00"
    assert [c[1] for c in app.commands] == [0x61, 0xC0, 0x6C, 0x6C]
    reader.close()


def test_tag_loss_mid_exchange_then_reconnect(vpcd_slot: Slot) -> None:
    app = FileCard(lose_after=3)
    card = vpcd_slot(app)
    reader = PcscReader(READER_NAME)
    conn = reader.connect(timeout=5)
    assert ResponseAPDU.from_bytes(conn.transceive(select(0x011E))).ok
    assert ResponseAPDU.from_bytes(conn.transceive(read(0, 2048))).ok
    with pytest.raises(TagLostError):
        conn.transceive(read(2048, 2048))
    with pytest.raises(TagLostError):  # the connection stays dead
        conn.transceive(read(0, 16))
    conn.disconnect()

    resets = app.resets
    with reader.connect(timeout=5) as again:  # waits for the card to be presented again
        assert ResponseAPDU.from_bytes(again.transceive(select(0x011E))).ok
        data = ResponseAPDU.from_bytes(again.transceive(read(2048, 2048)))
        assert data.ok and data.data == app.files[0x011E][2048:]
    assert app.resets > resets  # the card was power-cycled: a fresh session
    assert card.removals == 1  # type: ignore[attr-defined]
    reader.close()


def test_no_card_in_the_reader(vpcd_slot: Slot) -> None:
    vpcd_slot(None)
    with pytest.raises(NoCardError):
        PcscReader(READER_NAME).connect(timeout=0.5)


def test_unknown_reader() -> None:
    with pytest.raises(NoReaderError):
        PcscReader("no such reader anywhere").connect(timeout=0.1)


# --- the full eMRTD read through pcscd ------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["PACE", "BAC"])
def test_full_read_with_passive_and_active_authentication(vpcd_slot: Slot, protocol: str) -> None:
    from netid.card.icao.read_document import read_document
    from tests.integration.full_read import CHALLENGE, check_readout, chip, make_test_card

    card = make_test_card(protocol)
    vpcd_slot(chip(card))
    reader = PcscReader(READER_NAME)
    with reader.connect(timeout=5) as conn:
        readout = read_document(conn, card.access_key, aa_challenge=CHALLENGE)
    check_readout(readout, card, protocol)
    assert readout.extended_length
    reader.close()


def test_tag_loss_mid_read_then_retry_succeeds(vpcd_slot: Slot) -> None:
    from netid.card.icao.read_document import read_document, read_document_with_retry
    from tests.integration.full_read import CHALLENGE, LOSE_AFTER, check_readout, chip, make_test_card

    card = make_test_card("PACE")
    first = vpcd_slot(chip(card, lose_after=LOSE_AFTER))
    reader = PcscReader(READER_NAME)
    with reader.connect(timeout=5) as conn, pytest.raises(TagLostError):
        read_document(conn, card.access_key, aa_challenge=CHALLENGE)
    first.stop()  # type: ignore[attr-defined]
    wait_reader_empty(READER_NAME)  # a different card: let pcscd see the first one go

    second = vpcd_slot(chip(card, lose_after=LOSE_AFTER))
    readout = read_document_with_retry(reader, card.access_key, aa_challenge=CHALLENGE)
    check_readout(readout, card, "PACE")
    assert second.removals == 1  # type: ignore[attr-defined]
    reader.close()
