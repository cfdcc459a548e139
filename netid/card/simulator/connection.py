"""An in-memory :class:`~netid.card.interface.CardReader` over any :class:`CardApplication`."""

from __future__ import annotations

import time

from netid.card.interface import CardApplication, CardConnection, CardReader, CardRemoved
from netid.errors import TagLostError

#: ISO 14443-4 ATS prefix: TL is prepended; T0 = 78 (TA, TB, TC present, FSCI 8 = 256 bytes)
_ATS_INTERFACE_BYTES = bytes.fromhex("78807002")


class SimulatorConnection(CardConnection):
    """One "field session" with a simulated card.

    A card leaving the field (:class:`CardRemoved`) becomes :class:`~netid.errors.TagLostError`, and the
    connection stays dead afterwards, as a real link would; ``reader.connect()`` gives a fresh one.
    """

    def __init__(self, card: CardApplication, *, delay_seconds: float = 0.0, extended: bool = True) -> None:
        self._card = card
        self._delay = delay_seconds
        self._extended = extended
        self._alive = True
        self.apdu_count = 0

    def transceive(self, command: bytes) -> bytes:
        if not self._alive:
            raise TagLostError("the card has left the field; connect again")
        self.apdu_count += 1
        if self._delay:
            time.sleep(self._delay)  # slow-chip fault: the chip takes this long per APDU
        try:
            return self._card.process(bytes(command))
        except CardRemoved:
            self._alive = False
            raise TagLostError("the card left the field during the exchange — hold it still") from None

    def disconnect(self) -> None:
        self._alive = False

    @property
    def ats(self) -> bytes:
        body = _ATS_INTERFACE_BYTES + self._card.historical_bytes
        return bytes((len(body) + 1,)) + body

    @property
    def max_apdu_length(self) -> int:
        return 65544 if self._extended else 261


class SimulatorReader(CardReader):
    """A reader with one simulated card permanently "on" it; each connect() power-cycles the card."""

    def __init__(self, card: CardApplication, *, name: str = "NetID simulator") -> None:
        self.name = name
        self.card = card
        self._connection: SimulatorConnection | None = None

    def connect(self, timeout: float | None = None) -> SimulatorConnection:
        if self._connection is not None:
            self._connection.disconnect()
        self.card.reset()
        faults = getattr(self.card, "faults", None)
        image = getattr(self.card, "image", None)
        self._connection = SimulatorConnection(
            self.card,
            delay_seconds=float(getattr(faults, "delay_seconds", 0.0)),
            extended=bool(getattr(image, "extended_length", True)),
        )
        return self._connection
