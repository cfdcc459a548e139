"""PcscConnection.transceive's T=0 helpers (61xx GET RESPONSE, 6Cxx re-send) over a fake pyscard layer:
applied to plain commands, never to secure-messaging ones."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from netid.card.apdu import CommandAPDU
from netid.card.backends.pcsc import PcscConnection


class FakeScard(SimpleNamespace):
    """The part of ``smartcard.scard`` a connection uses; ``answer`` maps each command to a response."""

    def __init__(self, answer: Callable[[bytes], bytes]) -> None:
        super().__init__(SCARD_S_SUCCESS=0, SCARD_PROTOCOL_T1=2)
        self.answer = answer
        self.sent: list[bytes] = []

    def SCardTransmit(self, handle: object, protocol: int, command: list[int]) -> tuple[int, list[int]]:
        self.sent.append(bytes(command))
        return 0, list(self.answer(bytes(command)))


def _connection(scard: FakeScard) -> PcscConnection:
    reader = SimpleNamespace(_context=SimpleNamespace(scard=scard), _note_lost=lambda _count: None)
    return PcscConnection(reader, object(), 2, b"", 0, None)  # type: ignore[arg-type]


READ_PLAIN = CommandAPDU(0x00, 0xB0, 0x00, 0x00, ne=0x20).to_bytes()
#: a protected READ BINARY as secure messaging sends it: CLA 0C, DO'97' and DO'8E' inside, Le 00
READ_SM = bytes.fromhex("0CB000000D" + "970120" + "8E08" + "0102030405060708" + "00")


def test_plain_6cxx_resends_with_the_exact_le() -> None:
    scard = FakeScard(lambda c: b"\x6c\x10" if c[-1] == 0x20 else b"\xaa" * 16 + b"\x90\x00")
    assert _connection(scard).transceive(READ_PLAIN) == b"\xaa" * 16 + b"\x90\x00"
    assert [c[-1] for c in scard.sent] == [0x20, 0x10]


def test_plain_61xx_fetches_with_get_response() -> None:
    scard = FakeScard(lambda c: b"\x61\x04" if c[1] == 0xB0 else b"\xbb" * 4 + b"\x90\x00")
    assert _connection(scard).transceive(READ_PLAIN) == b"\xbb" * 4 + b"\x90\x00"
    assert scard.sent[1] == bytes.fromhex("00C0000004")


@pytest.mark.parametrize("status", [b"\x6c\x10", b"\x61\x04"])
def test_sm_protected_command_gets_its_answer_as_is(status: bytes) -> None:
    scard = FakeScard(lambda _c: status)
    assert _connection(scard).transceive(READ_SM) == status
    assert scard.sent == [READ_SM]  # no re-send with another Le, no plain GET RESPONSE
