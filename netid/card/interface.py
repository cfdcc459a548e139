"""The one reader interface every backend implements (simulator, nfcpy, PC/SC).

Everything above this layer is sans-I/O: protocols produce command bytes and consume response bytes, and a
:class:`CardConnection` moves them. Backends map their own failures onto :class:`~netid.errors.NoCardError`,
:class:`~netid.errors.TagLostError`, :class:`~netid.errors.CardTimeoutError` and
:class:`~netid.errors.ReaderError`, so callers handle one set of errors whatever the hardware.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Protocol


class CardConnection(abc.ABC):
    """An open channel to one card. Use as a context manager to disconnect reliably."""

    #: counts command APDUs sent through this connection (for diagnostics and benchmarks)
    apdu_count: int = 0

    @abc.abstractmethod
    def transceive(self, command: bytes) -> bytes:
        """Send one command APDU and return the full response APDU (data + SW1 SW2)."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Release the card. Idempotent."""

    @property
    def ats(self) -> bytes | None:
        """Answer-to-select (ISO 14443-4) or ATR (contact), when the backend knows it."""
        return None

    @property
    def max_apdu_length(self) -> int | None:
        """The largest command/response the link carries (``None``: unknown, assume short APDUs fit)."""
        return None

    def __enter__(self) -> CardConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()


class CardReader(abc.ABC):
    """A reader that cards are presented to."""

    name: str

    @abc.abstractmethod
    def connect(self, timeout: float | None = None) -> CardConnection:
        """Wait up to ``timeout`` seconds (``None``: the backend's default) for a card and connect to it.

        Raises :class:`~netid.errors.NoCardError` when no card came, :class:`~netid.errors.ReaderError`
        when the reader itself failed.
        """

    def close(self) -> None:  # noqa: B027 - optional hook; most readers hold nothing between connects
        """Release the reader."""


class CardApplication(Protocol):
    """What a card *is* from the card side: the simulator implements it, and the nfcpy and vpcd servers
    put any implementation on a real transport.

    ``process`` may raise :class:`CardRemoved` to model the card leaving the field mid-exchange; the
    transport then drops the link as real hardware would.
    """

    historical_bytes: bytes

    def reset(self) -> None:
        """Power cycle: drop sessions and selected files, as when the card re-enters the field."""

    def process(self, command: bytes) -> bytes:
        """Answer one command APDU with a response APDU."""


class CardRemoved(Exception):  # noqa: N818 - a signal from the card side, not an error of the caller
    """Raised by a :class:`CardApplication` when (simulated) the card leaves the field."""
