"""NfcReader through real nfcpy: reader-side ContactlessFrontend on ``udp:127.0.0.1:PORT`` <-> card-side
ContactlessFrontend (NfcTarget) answering anticollision, RATS and ISO-DEP blocks.

Transport tests use the tiny file card; the full eMRTD reads run the chip simulator and the ICAO read
driver over the same stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from netid.card.apdu import CommandAPDU, ResponseAPDU
from netid.errors import NoCardError, TagLostError
from tests.integration.file_card import (
    CLA_PROPRIETARY,
    INS_ECHO,
    FileCard,
    free_udp_port,
    pattern,
    read,
    select,
)

pytestmark = pytest.mark.slow

Serve = Callable[..., Any]


class SlowCard(FileCard):
    """Takes longer than the frame waiting time for every APDU: the card must ask for waiting time."""

    def process(self, command: bytes) -> bytes:
        time.sleep(0.2)  # the "chip" computing (e.g. a signature); FWT is 77 ms
        return super().process(command)


def test_short_and_extended_apdus(nfc_target: Serve) -> None:
    from netid.card.backends.nfc import NfcReader

    app = FileCard()
    target = nfc_target(app)
    reader = NfcReader(target.reader_path)
    try:
        with reader.connect(timeout=5) as conn:
            assert conn.tag_type == "Type4ATag"
            assert conn.frame_size == 256
            assert conn.ats is not None and conn.ats.endswith(app.historical_bytes)
            assert ResponseAPDU.from_bytes(conn.transceive(select(0x0101))).ok
            short = ResponseAPDU.from_bytes(conn.transceive(read(0, 93)))
            assert short.ok and short.data == app.files[0x0101]

            assert ResponseAPDU.from_bytes(conn.transceive(select(0x011E))).ok
            big = ResponseAPDU.from_bytes(conn.transceive(read(0, 3000)))  # extended Le, chained response
            assert big.ok and big.data == app.files[0x011E][:3000]

            payload = pattern(4096, 9)  # extended Lc: chained command blocks
            echo = CommandAPDU(CLA_PROPRIETARY, INS_ECHO, 0, 0, payload, ne=65536).to_bytes()
            assert conn.transceive(echo) == payload + b"\x90\x00"
            assert conn.apdu_count == 5
        assert target.activations == 1
    finally:
        reader.close()


def test_slow_card_asks_for_waiting_time(nfc_target: Serve) -> None:
    from netid.card.backends.nfc import NfcReader

    app = SlowCard()
    target = nfc_target(app)
    reader = NfcReader(target.reader_path)
    try:
        with reader.connect(timeout=5) as conn:
            assert ResponseAPDU.from_bytes(conn.transceive(select(0x011E))).ok
            data = ResponseAPDU.from_bytes(conn.transceive(read(0, 1024)))
            assert data.ok and data.data == app.files[0x011E][:1024]
    finally:
        reader.close()


def test_tag_loss_mid_exchange_then_reconnect(nfc_target: Serve) -> None:
    from netid.card.backends.nfc import NfcReader

    app = FileCard(lose_after=3)
    target = nfc_target(app)
    reader = NfcReader(target.reader_path)
    try:
        conn = reader.connect(timeout=5)
        assert ResponseAPDU.from_bytes(conn.transceive(select(0x011E))).ok
        assert ResponseAPDU.from_bytes(conn.transceive(read(0, 2048))).ok
        with pytest.raises(TagLostError):
            conn.transceive(read(2048, 2048))
        with pytest.raises(TagLostError):  # the connection stays dead
            conn.transceive(read(0, 16))
        conn.disconnect()
        assert target.removals == 1

        with reader.connect(timeout=5) as again:  # a fresh activation
            assert ResponseAPDU.from_bytes(again.transceive(select(0x011E))).ok
            data = ResponseAPDU.from_bytes(again.transceive(read(2048, 2048)))
            assert data.ok and data.data == app.files[0x011E][2048:]
        assert target.activations == 2
        assert app.resets == 2  # each activation power-cycles the application
    finally:
        reader.close()


def test_no_card_in_the_field() -> None:
    pytest.importorskip("nfc")
    from netid.card.backends.nfc import NfcReader

    reader = NfcReader(f"udp:127.0.0.1:{free_udp_port()}")
    try:
        with pytest.raises(NoCardError):
            reader.connect(timeout=0.2)
    finally:
        reader.close()


# --- the full eMRTD read through nfcpy ------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["PACE", "BAC"])
def test_full_read_with_passive_and_active_authentication(nfc_target: Serve, protocol: str) -> None:
    from netid.card.backends.nfc import NfcReader
    from netid.card.icao.read_document import read_document
    from tests.integration.full_read import CHALLENGE, check_readout, chip, make_test_card

    card = make_test_card(protocol)
    target = nfc_target(chip(card))
    reader = NfcReader(target.reader_path)
    try:
        with reader.connect(timeout=5) as conn:
            readout = read_document(conn, card.access_key, aa_challenge=CHALLENGE)
        check_readout(readout, card, protocol)
        assert readout.extended_length
    finally:
        reader.close()


def test_tag_loss_mid_read_then_retry_succeeds(nfc_target: Serve) -> None:
    from netid.card.backends.nfc import NfcReader
    from netid.card.icao.read_document import read_document, read_document_with_retry
    from tests.integration.full_read import CHALLENGE, LOSE_AFTER, check_readout, chip, make_test_card

    card = make_test_card("PACE")
    first = nfc_target(chip(card, lose_after=LOSE_AFTER))
    reader = NfcReader(first.reader_path)
    try:
        with reader.connect(timeout=5) as conn, pytest.raises(TagLostError):
            read_document(conn, card.access_key, aa_challenge=CHALLENGE)
    finally:
        reader.close()

    second = nfc_target(chip(card, lose_after=LOSE_AFTER))
    reader = NfcReader(second.reader_path)
    try:
        readout = read_document_with_retry(reader, card.access_key, aa_challenge=CHALLENGE)
        check_readout(readout, card, "PACE")
        assert second.removals == 1
        assert second.activations == 2
    finally:
        reader.close()
