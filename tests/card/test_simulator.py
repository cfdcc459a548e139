"""The simulated chip: status words, access rules, secure messaging discipline, reads and faults."""

from __future__ import annotations

import pytest

from netid.card.apdu import CommandAPDU, ResponseAPDU
from netid.card.icao.bac import BacTerminal
from netid.card.icao.lds import EMRTD_AID, FID_CARD_ACCESS, FID_COM, FID_DG
from netid.card.icao.pace import PaceTerminal, PasswordRef
from netid.card.icao.sm import SecureMessaging
from netid.card.interface import CardRemoved
from netid.card.simulator import Faults, SimulatedCard, SimulatorReader
from netid.errors import TagLostError
from tests.card.simcards import CAN, MRZ_KEY, build_image

SELECT_APP = CommandAPDU(0x00, 0xA4, 0x04, 0x0C, EMRTD_AID)


def sw(card: SimulatedCard, apdu: str | bytes) -> int:
    raw = bytes.fromhex(apdu) if isinstance(apdu, str) else apdu
    return ResponseAPDU.from_bytes(card.process(raw)).sw


def authenticate(card: SimulatedCard, *, pace: bool = True) -> SecureMessaging:
    if pace:
        protocol: PaceTerminal | BacTerminal = PaceTerminal(MRZ_KEY.password, PasswordRef.MRZ, 13)
    else:
        assert sw(card, SELECT_APP.to_bytes()) == 0x9000
        protocol = BacTerminal(MRZ_KEY.mrz_information)
    command = protocol.start()
    while command is not None:
        command = protocol.receive(ResponseAPDU.from_bytes(card.process(command.to_bytes())))
    return protocol.result.sm


def send(card: SimulatedCard, sm: SecureMessaging, command: CommandAPDU) -> ResponseAPDU:
    return sm.unwrap_response(card.process(sm.wrap_command(command).to_bytes()))


@pytest.fixture
def card() -> SimulatedCard:
    return SimulatedCard(build_image())


def test_before_access_control_only_card_access(card: SimulatedCard) -> None:
    assert sw(card, "00A4020C02011C") == 0x9000
    assert (
        ResponseAPDU.from_bytes(card.process(bytes.fromhex("00B0000000"))).data
        == card.image.files[FID_CARD_ACCESS]
    )
    assert sw(card, "00B09C0004") == 0x9000  # SFI read of EF.CardAccess
    assert sw(card, SELECT_APP.to_bytes()) == 0x9000  # selecting the application is allowed
    assert sw(card, "00A4020C020101") == 0x6982
    assert sw(card, "00B0810004") == 0x6982
    assert sw(card, "00A4020C02011C") == 0x6A82  # EF.CardAccess lives in the MF, not in the application
    assert sw(card, "00880000080102030405060708") == 0x6982


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        ("00CA000000", 0x6D00),  # unknown INS
        ("80B0000004", 0x6E00),  # proprietary CLA
        ("00B0000004", 0x6986),  # no current EF
        ("00A4040C07A0000002471002", 0x6A82),  # unknown AID
        ("00A4080C020101", 0x6A86),  # unsupported P1
        ("00A4020C03011C00", 0x6700),  # file id of three bytes
        ("0084000004", 0x6700),  # GET CHALLENGE needs Le 8
        ("0082000028" + "00" * 40 + "28", 0x6985),  # EXTERNAL AUTHENTICATE without challenge
        ("0022C1A4038301FF", 0x6A80),  # MSE:Set AT without protocol
        ("10860000027C0000", 0x6985),  # GA before MSE:Set AT
        ("0CB0000004", 0x6988),  # SM CLA without a session
        ("00B0", 0x6700),  # truncated header
    ],
)
def test_status_words(card: SimulatedCard, apdu: str, expected: int) -> None:
    assert sw(card, apdu) == expected


def test_read_binary_boundaries(card: SimulatedCard) -> None:
    content = card.image.files[FID_CARD_ACCESS]
    assert sw(card, "00A4020C02011C") == 0x9000
    tail = ResponseAPDU.from_bytes(card.process(bytes.fromhex("00B0001000")))
    assert tail.ok and tail.data == content[16:]  # Le beyond the end: what is left, 9000
    at_end = ResponseAPDU.from_bytes(card.process(bytes([0, 0xB0, 0, len(content), 0])))
    assert at_end.sw == 0x6282 and at_end.data == b""
    assert sw(card, bytes([0, 0xB0, 0, len(content) + 1, 1])) == 0x6B00
    fcp = ResponseAPDU.from_bytes(card.process(bytes.fromhex("00A4020002011C")))
    assert fcp.ok and fcp.data.startswith(b"\x62")


def test_short_reads_capped_extended_not(card: SimulatedCard) -> None:
    sm = authenticate(card)
    assert send(card, sm, SELECT_APP).ok
    short = send(card, sm, CommandAPDU(0, 0xB0, 0x82, 0, ne=256))
    assert len(short.data) == card.image.max_read_length
    long = send(card, sm, CommandAPDU(0, 0xB0, 0, 0, ne=2000))
    assert long.data == card.image.files[FID_DG[2]][:2000]


def test_odd_ins_read_binary(card: SimulatedCard) -> None:
    sm = authenticate(card)
    send(card, sm, SELECT_APP).check()
    send(card, sm, CommandAPDU(0, 0xA4, 0x02, 0x0C, b"\x01\x02")).check()
    answer = send(card, sm, CommandAPDU(0, 0xB1, 0, 0, bytes.fromhex("5402012C"), ne=102))
    assert answer.data == b"\x53\x64" + card.image.files[FID_DG[2]][300:400]


def test_plain_command_after_sm_drops_the_session(card: SimulatedCard) -> None:
    sm = authenticate(card)
    send(card, sm, SELECT_APP).check()
    assert sw(card, "00B0000004") == 0x6987
    assert not card.session_active
    assert sw(card, "00B0810004") == 0x6982  # back to no access control


def test_bad_mac_answers_6988_and_drops_the_session(card: SimulatedCard) -> None:
    sm = authenticate(card)
    protected = bytearray(sm.wrap_command(SELECT_APP).to_bytes())
    protected[-2] ^= 0x01
    assert card.process(bytes(protected)) == b"\x69\x88"
    assert not card.session_active


def test_bac_session_and_wrong_key() -> None:
    card = SimulatedCard(build_image(pace=()))
    sm = authenticate(card, pace=False)
    assert send(card, sm, CommandAPDU(0, 0xB0, 0x9E, 0, ne=4)).data == card.image.files[FID_COM][:4]
    card.reset()
    assert sw(card, "0084000008") == 0x9000
    assert sw(card, "0082000028" + "00" * 40 + "28") == 0x6300
    assert sw(card, "0022C1A412800A04007F0007020204020283010184010D") == 0x6A88  # no PACE offered


def test_extended_length_refused_when_unsupported() -> None:
    card = SimulatedCard(build_image(extended=False))
    assert sw(card, "00B09C00000004") == 0x6700
    assert sw(card, "00B09C0004") == 0x9000


def test_internal_authenticate_under_sm(card: SimulatedCard) -> None:
    sm = authenticate(card)
    answer = send(card, sm, CommandAPDU(0, 0x88, 0, 0, bytes(8), ne=256))
    assert answer.ok and len(answer.data) == 64
    assert send(card, sm, CommandAPDU(0, 0x88, 0, 0, bytes(7), ne=256)).sw == 0x6700


def test_can_is_accepted(card: SimulatedCard) -> None:
    terminal = PaceTerminal(CAN.encode(), PasswordRef.CAN, 13)
    command = terminal.start()
    while command is not None:
        command = terminal.receive(ResponseAPDU.from_bytes(card.process(command.to_bytes())))
    assert card.session_active


def test_tag_lost_once_then_works_after_reset() -> None:
    card = SimulatedCard(build_image(), faults=Faults(tag_lost_after=2))
    card.process(bytes.fromhex("00A4000C023F00"))
    card.process(bytes.fromhex("00A4000C023F00"))
    with pytest.raises(CardRemoved):
        card.process(bytes.fromhex("00A4000C023F00"))
    card.reset()
    assert sw(card, "00A4000C023F00") == 0x9000


def test_reader_maps_tag_loss_and_reconnects() -> None:
    reader = SimulatorReader(SimulatedCard(build_image(), faults=Faults(tag_lost_after=1)))
    connection = reader.connect()
    assert connection.transceive(bytes.fromhex("00A4000C023F00")) == b"\x90\x00"
    with pytest.raises(TagLostError):
        connection.transceive(bytes.fromhex("00A4000C023F00"))
    with pytest.raises(TagLostError):  # the link stays dead
        connection.transceive(bytes.fromhex("00A4000C023F00"))
    fresh = reader.connect()
    assert fresh.transceive(bytes.fromhex("00A4000C023F00")) == b"\x90\x00"
    assert fresh.apdu_count == 1 and connection.apdu_count == 2
    assert fresh.ats is not None and fresh.ats.endswith(reader.card.historical_bytes)


@pytest.mark.parametrize("cla", [0xFF, 0x80, 0x8C, 0x4C, 0x2C])
def test_invalid_or_unknown_class_answers_6e00_before_secure_messaging(card: SimulatedCard, cla: int) -> None:
    """ISO 7816-4 §5.4.1: FF is invalid, and in classes other than the first interindustry one the SM bits
    mean something else. The chip answers 6E00 in plain, before any SM handling, and the session lives."""
    assert card.process(bytes([cla, 0xB0, 0, 0, 4])) == b"\x6e\x00"  # no session: 6E00 too, not 6988
    sm = authenticate(card)
    send(card, sm, SELECT_APP).check()
    assert card.process(bytes([cla, 0xB0, 0, 0, 4])) == b"\x6e\x00"
    assert (
        card.process(bytes([cla, 0xB0, 0, 0, 10]) + bytes.fromhex("8E08") + bytes(8) + b"\x00") == b"\x6e\x00"
    )
    assert card.session_active
    # nothing was unwrapped: the send sequence counters still agree and the next command is served
    assert send(card, sm, CommandAPDU(0, 0xB0, 0x81, 0, ne=4)).data == card.image.files[FID_DG[1]][:4]
