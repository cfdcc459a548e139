"""What a terminal does for the application with T=0 status words (ISO/IEC 7816-3 and 7816-4), without I/O.

A T=0 card (and some contactless readers imitating one) answers ``61xx`` when more response data waits
(fetched with GET RESPONSE, Le = xx, until the status is no longer ``61xx``) and ``6Cxx`` when Le was
wrong (the command goes once more with Le = xx). :class:`T0Exchange` is that logic for one command: the
transport sends what :meth:`~T0Exchange.start` and :meth:`~T0Exchange.receive` return as
:class:`Transmit` until they return :class:`Complete`::

    exchange = T0Exchange(command)
    step = exchange.start()
    while isinstance(step, Transmit):
        step = exchange.receive(transmit(step.apdu))
    return step.response

A command under secure messaging (CLA bits ``0C`` set) gets its first response as is: the MAC covers
DO'97' (Le) and the chip's send sequence counter has moved, so re-sending it with another Le or fetching
with a plain GET RESPONSE would break the session; the SM layer above handles the answer.

Errors follow h11: :class:`T0RemoteError` when the card breaks the protocol (a response without status
bytes, ``61xx`` without end), :class:`T0LocalError` when the transport misuses the exchange.

>>> exchange = T0Exchange(bytes.fromhex("00B0000020"))
>>> exchange.start()
Transmit(<5-byte APDU>)
>>> exchange.receive(bytes.fromhex("6110")), exchange.state
(Transmit(<5-byte APDU>), <T0State.FETCHING: 'fetching'>)
>>> exchange.receive(bytes(16) + bytes.fromhex("9000"))
Complete(<18-byte response, SW 9000>)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from netid.card.apdu import CommandAPDU
from netid.errors import NetIDError, ParseError, ReaderError, UsageError

__all__ = [
    "MAX_GET_RESPONSE",
    "Complete",
    "T0Error",
    "T0Exchange",
    "T0LocalError",
    "T0RemoteError",
    "T0State",
    "T0Step",
    "Transmit",
    "is_secure_messaging",
]

#: GET RESPONSEs allowed for one command: 256 x 256 bytes is more than any APDU can carry
MAX_GET_RESPONSE = 256

_SW1_MORE_DATA = 0x61
_SW1_WRONG_LE = 0x6C
_INS_GET_RESPONSE = 0xC0
_CLA_SM = 0x0C
_CLA_CHANNEL = 0x03


class T0Error(NetIDError):
    """Base of the T=0 exchange's errors."""


class T0LocalError(T0Error, UsageError):
    """The transport misused the exchange (a call not allowed in the current state). A bug."""


class T0RemoteError(T0Error, ReaderError):
    """The card broke the T=0 response protocol; the exchange is over (:attr:`T0State.FAILED`)."""


class T0State(enum.Enum):
    """Where one command's exchange is."""

    #: nothing sent yet
    NEW = "new"
    #: the command is out; waiting for its response
    COMMAND_SENT = "command_sent"
    #: the card answered 6Cxx; the command is out again with Le = xx
    RESENT = "resent"
    #: the card answered 61xx; a GET RESPONSE is out
    FETCHING = "fetching"
    #: the full response is known (:class:`Complete` was returned)
    DONE = "done"
    #: the card broke the protocol (:class:`T0RemoteError` was raised)
    FAILED = "failed"


@dataclass(frozen=True, slots=True, repr=False)
class Transmit:
    """Send ``apdu`` to the card and pass its response to :meth:`T0Exchange.receive`."""

    apdu: bytes

    def __repr__(self) -> str:  # APDUs may carry personal data: show their size only
        return f"Transmit(<{len(self.apdu)}-byte APDU>)"


@dataclass(frozen=True, slots=True, repr=False)
class Complete:
    """The exchange is over: ``response`` is the full response APDU (data + SW1 SW2)."""

    response: bytes

    def __repr__(self) -> str:
        return f"Complete(<{len(self.response)}-byte response, SW {self.response[-2:].hex().upper()}>)"


T0Step = Transmit | Complete


def is_secure_messaging(command: bytes) -> bool:
    """True when the CLA byte announces secure messaging (ISO 7816-4: bits ``0C`` of an interindustry CLA)."""
    return bool(command[0] & _CLA_SM)


class T0Exchange:
    """The T=0 status-word handling for one command APDU."""

    def __init__(self, command: bytes, *, max_get_response: int = MAX_GET_RESPONSE) -> None:
        if not command:
            raise T0LocalError("empty command APDU")
        if max_get_response < 1:
            raise T0LocalError("max_get_response must be at least 1")
        self.command = bytes(command)
        self.max_get_response = max_get_response
        self._state = T0State.NEW
        self._data = bytearray()  # response data gathered by GET RESPONSE
        self._get_responses = 0
        self.transmitted = 0  #: APDUs sent for this command so far

    def __repr__(self) -> str:
        return f"T0Exchange(state={self._state.name}, transmitted={self.transmitted})"

    @property
    def state(self) -> T0State:
        return self._state

    def start(self) -> Transmit:
        """The first APDU to send: the command itself."""
        if self._state is not T0State.NEW:
            raise T0LocalError(f"the exchange was already started (state {self._state.name})")
        self._state = T0State.COMMAND_SENT
        return self._transmit(self.command)

    def receive(self, response: bytes) -> T0Step:
        """The card's response to the last :class:`Transmit`: what to send next, or the full response."""
        state = self._state
        if state not in {T0State.COMMAND_SENT, T0State.RESENT, T0State.FETCHING}:
            raise T0LocalError(f"no APDU is waiting for a response (state {state.name})")
        response = bytes(response)
        if len(response) < 2:
            self._state = T0State.FAILED
            raise T0RemoteError("the card answered without status bytes")
        sw1, sw2 = response[-2], response[-1]
        match state:
            case T0State.COMMAND_SENT if is_secure_messaging(self.command):
                return self._complete(response)
            case T0State.COMMAND_SENT if sw1 == _SW1_WRONG_LE:
                fixed = self._with_le(sw2 or 256)
                if fixed is None:  # no Le to correct, or not a short APDU: the answer stands
                    return self._complete(response)
                self._state = T0State.RESENT
                return self._transmit(fixed)
            case T0State.COMMAND_SENT | T0State.RESENT if sw1 == _SW1_MORE_DATA:
                self._data = bytearray(response[:-2])
                return self._get_response(sw2)
            case T0State.COMMAND_SENT | T0State.RESENT:
                return self._complete(response)
            case T0State.FETCHING:
                self._data += response[:-2]
                if sw1 != _SW1_MORE_DATA:
                    return self._complete(bytes(self._data) + bytes((sw1, sw2)))
                if self._get_responses >= self.max_get_response:
                    self._state = T0State.FAILED
                    raise T0RemoteError("the card kept answering 61xx to GET RESPONSE")
                return self._get_response(sw2)
            case _:  # pragma: no cover - excluded above
                raise AssertionError(state)

    def _with_le(self, ne: int) -> bytes | None:
        try:
            apdu = CommandAPDU.from_bytes(self.command)
        except ParseError:
            return None
        if apdu.ne is None or apdu.needs_extended:
            return None
        return CommandAPDU(apdu.cla, apdu.ins, apdu.p1, apdu.p2, apdu.data, ne).to_bytes()

    def _get_response(self, le: int) -> Transmit:
        self._state = T0State.FETCHING
        self._get_responses += 1
        cla = self.command[0] & _CLA_CHANNEL  # keep the logical channel, drop SM/chaining bits
        return self._transmit(bytes((cla, _INS_GET_RESPONSE, 0x00, 0x00, le)))

    def _transmit(self, apdu: bytes) -> Transmit:
        self.transmitted += 1
        return Transmit(apdu)

    def _complete(self, response: bytes) -> Complete:
        self._state = T0State.DONE
        return Complete(response)
