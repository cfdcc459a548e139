"""A tiny card application for transport tests: transparent files, an echo command, T=0-style
61xx/6Cxx answers and a one-shot "card removed" fault. Knows nothing of ICAO; only enough of ISO 7816-4
to move short and extended APDUs through a real reader stack. Also: a free loopback UDP port for the
NFC card server."""

from __future__ import annotations

import socket

from netid.card.apdu import SW_SUCCESS, CommandAPDU, ResponseAPDU
from netid.card.interface import CardRemoved
from netid.errors import ParseError

CLA_PROPRIETARY = 0x80
INS_ECHO = 0xEE  # answers the command data (extended Lc lets it carry > 255 bytes)
INS_NEEDS_GET_RESPONSE = 0x61  # answers 61xx; the data follows with GET RESPONSE
INS_NEEDS_EXACT_LE = 0x6C  # answers 6Cxx unless Le is exactly xx


def free_udp_port() -> int:
    """A loopback UDP port free right now (for an NFC card server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pattern(length: int, seed: int = 0) -> bytes:
    return bytes((seed + i * 7 + (i >> 8)) & 0xFF for i in range(length))


class FileCard:
    """A CardApplication with transparent EFs selected by file identifier."""

    def __init__(
        self,
        files: dict[int, bytes] | None = None,
        *,
        historical_bytes: bytes = b"\x80\x31\x80\x65\xb0",
        lose_after: int | None = None,
    ) -> None:
        self.files = files if files is not None else {0x011E: pattern(4096, 1), 0x0101: pattern(93, 2)}
        self.historical_bytes = historical_bytes
        self.lose_after = lose_after
        self.selected: int | None = None
        self.apdus = 0
        self.resets = 0
        self.commands: list[bytes] = []
        self._pending: bytes = b""

    def reset(self) -> None:
        self.selected = None
        self._pending = b""
        self.resets += 1

    def process(self, command: bytes) -> bytes:
        self.apdus += 1
        self.commands.append(bytes(command))
        if self.lose_after is not None and self.apdus >= self.lose_after:
            self.lose_after = None  # one-shot: the card comes back working
            raise CardRemoved
        try:
            apdu = CommandAPDU.from_bytes(command)
        except ParseError:
            return ResponseAPDU.status(0x6700).to_bytes()
        return self._answer(apdu).to_bytes()

    def _answer(self, apdu: CommandAPDU) -> ResponseAPDU:
        if apdu.cla == CLA_PROPRIETARY:
            if apdu.ins == INS_ECHO:
                return ResponseAPDU(apdu.data, 0x90, 0x00)
            if apdu.ins == INS_NEEDS_GET_RESPONSE:
                self._pending = pattern(apdu.p1 or 16, 3)
                return ResponseAPDU.status(0x6100 | len(self._pending) & 0xFF)
            if apdu.ins == INS_NEEDS_EXACT_LE:
                want = apdu.p1 or 8
                if apdu.ne != want:
                    return ResponseAPDU.status(0x6C00 | want)
                return ResponseAPDU(pattern(want, 4), 0x90, 0x00)
            return ResponseAPDU.status(0x6D00)
        if apdu.ins == 0xC0:  # GET RESPONSE
            data, self._pending = self._pending[: apdu.ne or 256], self._pending[apdu.ne or 256 :]
            return ResponseAPDU(data, 0x90, 0x00) if data else ResponseAPDU.status(0x6985)
        if apdu.ins == 0xA4:  # SELECT
            if apdu.p1 == 0x04:
                self.selected = None
                return ResponseAPDU.status(SW_SUCCESS)
            if len(apdu.data) != 2:
                return ResponseAPDU.status(0x6700)
            fid = int.from_bytes(apdu.data, "big")
            if fid not in self.files:
                return ResponseAPDU.status(0x6A82)
            self.selected = fid
            return ResponseAPDU.status(SW_SUCCESS)
        if apdu.ins == 0xB0:  # READ BINARY, 15-bit offset
            if self.selected is None:
                return ResponseAPDU.status(0x6986)
            content = self.files[self.selected]
            offset = ((apdu.p1 & 0x7F) << 8) | apdu.p2
            if offset > len(content):
                return ResponseAPDU.status(0x6B00)
            ne = apdu.ne or 256
            chunk = content[offset : offset + ne]
            return ResponseAPDU(chunk, 0x62, 0x82) if len(chunk) < ne else ResponseAPDU(chunk, 0x90, 0x00)
        return ResponseAPDU.status(0x6D00)


# command builders the stack tests share
def select(fid: int) -> bytes:
    return CommandAPDU(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")).to_bytes()


def read(offset: int, ne: int) -> bytes:
    return CommandAPDU(0x00, 0xB0, offset >> 8, offset & 0xFF, ne=ne).to_bytes()
