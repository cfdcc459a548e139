"""The card (PICC) side of the ISO/IEC 14443-4 block transmission protocol (ISO-DEP), without I/O.

:class:`IsoDepCard` never touches a radio or a socket. A driver feeds it every frame the reader sent with
:meth:`~IsoDepCard.receive_frame` and does what the returned step says: :class:`Activate` (power-cycle the
application, send the ATS), :class:`Send` (transmit a frame, then receive), :class:`Listen` (transmit
nothing, receive the next frame), :class:`RunCommand` (give the complete command APDU to the
application, then hand its response to :meth:`~IsoDepCard.answer`), :class:`Deselect` (send the answer and
end the activation). While the application works the driver may ask for waiting time with
:meth:`~IsoDepCard.request_waiting_time`; the reader's answer comes back as :class:`WaitingTimeGranted`.

What is modelled (ISO/IEC 14443-4 §5 and §7): RATS/ATS, the PICC block-numbering rules, command chaining
(an R(ACK) per chained I-block), response chaining cut at the reader's FSD, R(NAK)/R(ACK) recovery by
retransmission, S(WTX) while the application computes, S(DESELECT).

Errors follow h11: :class:`IsoDepRemoteError` means the reader sent something that is not a valid block
here (garbage, a block before RATS); :class:`IsoDepLocalError` means the driver misused the machine (fed a
frame while the application still owes an answer, answered when no command was asked, ...). Unlike h11's
connections, a remote error leaves the machine in the state it was in: ISO/IEC 14443-4's error recovery
has the PICC ignore an invalid block and stay in receive mode, and that is what a driver does on this error.

>>> card = IsoDepCard(b"\\x80\\x31")
>>> card.receive_frame(bytes.fromhex("E080"))  # RATS, FSD 256
Activate(ats=07788080008031)
>>> card.receive_frame(bytes.fromhex("0200A4040C")), card.state
(RunCommand(<4-byte APDU>), <IsoDepState.PROCESSING: 'processing'>)
>>> card.answer(bytes.fromhex("9000"))
Send(<I-block PCB 02, 3 bytes>)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from netid.errors import NetIDError, ReaderError, UsageError

__all__ = [
    "DEFAULT_FWI",
    "DEFAULT_WTXM",
    "Activate",
    "Block",
    "Deselect",
    "IBlock",
    "IsoDepCard",
    "IsoDepError",
    "IsoDepLocalError",
    "IsoDepRemoteError",
    "IsoDepState",
    "Listen",
    "RBlock",
    "Rats",
    "RunCommand",
    "SBlock",
    "SBlockKind",
    "Send",
    "Step",
    "WaitingTimeGranted",
    "build_ats",
    "fwt_seconds",
    "parse_block",
    "parse_rats",
]

FS_TABLE = (16, 24, 32, 40, 48, 64, 96, 128, 256)  # FSCI/FSDI -> frame size (ISO 14443-4 Table 1)
FSCI = 8  # we accept 256-byte frames
#: FWT = 4096 * 2^8 / fc = 77 ms; the reader retries a silent card 5 times
DEFAULT_FWI = 8
#: the waiting-time multiplier asked for with each S(WTX)
DEFAULT_WTXM = 10

_RATS = 0xE0
_PCB_I = 0x02
_PCB_CHAINING = 0x10
_PCB_CID = 0x08
_PCB_NAD = 0x04
_PCB_R = 0xA2
_PCB_R_NAK = 0x10
_PCB_S = 0xC2
_PCB_S_DESELECT = 0xC2
_PCB_S_WTX = 0xF2
_MASK_I = 0xE2  # b8 b7 b6 = 000, b2 = 1; b5 chaining, b4 CID, b3 NAD, b1 block number free
_MASK_R = 0xE6  # b8 b7 b6 = 101, b3 = 0, b2 = 1; b5 NAK, b4 CID, b1 block number free
_MASK_S = 0xC7  # b8 b7 = 11, b3 = 0, b2 = 1, b1 = 0; b6 b5 kind, b4 CID free
_MASK_S_KIND = 0x30


def fwt_seconds(fwi: int) -> float:
    """Frame waiting time for FWI (ISO 14443-4 §7.2): 256 * 16 / fc * 2^FWI."""
    return 4096 / 13.56e6 * (1 << fwi)


def build_ats(historical_bytes: bytes, fwi: int = DEFAULT_FWI) -> bytes:
    """ATS: TL, T0 (TA, TB, TC present; FSCI), TA (same bit rate both ways), TB (FWI, SFGI 0),
    TC (no NAD, no CID), then the historical bytes."""
    body = bytes((0x70 | FSCI, 0x80, (fwi << 4) & 0xF0, 0x00)) + historical_bytes
    if len(body) + 1 > FS_TABLE[FSCI] - 2:
        raise UsageError("historical bytes too long for an ATS")
    return bytes((len(body) + 1,)) + body


# --- errors -------------------------------------------------------------------------------------------


class IsoDepError(NetIDError):
    """Base of the ISO-DEP state machine's errors."""


class IsoDepLocalError(IsoDepError, UsageError):
    """The driver misused the state machine (a call not allowed in the current state). A bug."""


class IsoDepRemoteError(IsoDepError, ReaderError):
    """The reader sent a frame that is not a valid block in the current state; the card ignores it."""


# --- states -------------------------------------------------------------------------------------------


class IsoDepState(enum.Enum):
    """Where the card is in the protocol."""

    #: not activated: only RATS is answered
    IDLE = "idle"
    #: activated, no chain in progress: waiting for the reader's next I-block
    READY = "ready"
    #: command chaining: the reader sent chained I-blocks, more of this command is to come
    RECEIVING = "receiving"
    #: a complete command is with the application; the driver owes :meth:`IsoDepCard.answer`
    PROCESSING = "processing"
    #: S(WTX) sent while the application works; waiting for the reader's S(WTX) answer
    WAITING_TIME = "waiting_time"
    #: response chaining: more of the response goes out as the reader acknowledges with R(ACK)
    SENDING = "sending"


# --- received frames, parsed --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rats:
    """Request for answer to select (ISO 14443-4 §5.1): FSDI codes the largest frame the reader takes."""

    fsdi: int
    cid: int

    @property
    def fsd(self) -> int:
        """The reader's frame size; codes above 8 (RFU in the 2008 edition) are taken as 256 bytes."""
        return FS_TABLE[min(self.fsdi, 8)]


@dataclass(frozen=True, slots=True, repr=False)
class IBlock:
    """Information block: ``inf`` is a piece of a command APDU (``chaining``: more pieces follow)."""

    number: int
    chaining: bool
    inf: bytes

    def __repr__(self) -> str:
        return f"IBlock(number={self.number}, chaining={self.chaining}, <{len(self.inf)}-byte INF>)"


@dataclass(frozen=True, slots=True)
class RBlock:
    """Receive-ready block: R(ACK) acknowledges a chained block, R(NAK) asks for a retransmission."""

    number: int
    nak: bool


class SBlockKind(enum.Enum):
    DESELECT = "deselect"
    WTX = "wtx"


@dataclass(frozen=True, slots=True)
class SBlock:
    """Supervisory block: S(DESELECT), or the reader's answer to the card's S(WTX)."""

    kind: SBlockKind
    inf: bytes = b""


Block = IBlock | RBlock | SBlock


def parse_rats(frame: bytes) -> Rats:
    """The RATS that activates the card; anything else raises :class:`IsoDepRemoteError`."""
    if len(frame) < 2 or frame[0] != _RATS:
        raise IsoDepRemoteError("not activated: expected RATS")
    return Rats(fsdi=frame[1] >> 4, cid=frame[1] & 0x0F)


def parse_block(frame: bytes) -> Block:
    """An I-, R- or S-block (ISO 14443-4 §7.1); anything else raises :class:`IsoDepRemoteError`.

    CID and NAD, when the reader sends them, are skipped (the ATS announces neither).
    """
    if not frame:
        raise IsoDepRemoteError("empty frame")
    pcb = frame[0]
    header = 1 + bool(pcb & _PCB_CID) + bool(pcb & _PCB_NAD)
    if len(frame) < header:
        raise IsoDepRemoteError(f"block with PCB {pcb:02X} truncated in its CID/NAD header")
    if pcb & _MASK_I == _PCB_I:
        return IBlock(number=pcb & 1, chaining=bool(pcb & _PCB_CHAINING), inf=bytes(frame[header:]))
    if pcb & _MASK_R == _PCB_R:
        return RBlock(number=pcb & 1, nak=bool(pcb & _PCB_R_NAK))
    if pcb & _MASK_S == _PCB_S:
        if pcb & _MASK_S_KIND == 0x00:
            return SBlock(SBlockKind.DESELECT)
        if pcb & _MASK_S_KIND == _MASK_S_KIND:
            return SBlock(SBlockKind.WTX, bytes(frame[header:]))
        raise IsoDepRemoteError(f"unsupported S-block (PCB {pcb:02X})")
    raise IsoDepRemoteError(f"not an ISO-DEP block (PCB {pcb:02X})")


# --- what the driver does next ------------------------------------------------------------------------


def _frame_repr(name: str, frame: bytes) -> str:
    # frames carry APDUs, which may carry personal data: a repr shows their shape, never their content
    if not frame:
        return f"{name}(<empty>)"
    pcb = frame[0]
    kind = "I" if pcb & _MASK_I == _PCB_I else "R" if pcb & _MASK_R == _PCB_R else "S"
    return f"{name}(<{kind}-block PCB {pcb:02X}, {len(frame)} bytes>)"


@dataclass(frozen=True, slots=True)
class Activate:
    """The reader activated the card: power-cycle the application, send ``ats``, receive the next frame."""

    ats: bytes

    def __repr__(self) -> str:
        return f"Activate(ats={self.ats.hex().upper()})"


@dataclass(frozen=True, slots=True, repr=False)
class Send:
    """Transmit ``frame``, then receive the reader's next frame."""

    frame: bytes

    def __repr__(self) -> str:
        return _frame_repr("Send", self.frame)


@dataclass(frozen=True, slots=True)
class Listen:
    """Transmit nothing (the frame needs no answer); receive the reader's next frame."""


@dataclass(frozen=True, slots=True, repr=False)
class RunCommand:
    """A complete command APDU for the application: pass its response to :meth:`IsoDepCard.answer`."""

    apdu: bytes

    def __repr__(self) -> str:
        return f"RunCommand(<{len(self.apdu)}-byte APDU>)"


@dataclass(frozen=True, slots=True)
class WaitingTimeGranted:
    """The reader answered S(WTX): keep waiting for the application, up to ``multiplier`` x FWT."""

    multiplier: int


@dataclass(frozen=True, slots=True, repr=False)
class Deselect:
    """Transmit ``frame`` (the S(DESELECT) answer) and expect nothing more: the activation is over."""

    frame: bytes

    def __repr__(self) -> str:
        return _frame_repr("Deselect", self.frame)


Step = Activate | Send | Listen | RunCommand | WaitingTimeGranted | Deselect


# --- local inputs (the driver's calls), so that every transition goes through one function ------------


@dataclass(frozen=True, slots=True, repr=False)
class _Answer:
    response: bytes

    def __repr__(self) -> str:
        return "the application's answer"


@dataclass(frozen=True, slots=True)
class _RequestWaitingTime:
    def __repr__(self) -> str:
        return "a waiting-time request"


@dataclass(frozen=True, slots=True)
class _PowerOff:
    pass


_Input = Rats | Block | _Answer | _RequestWaitingTime | _PowerOff


# --- the machine --------------------------------------------------------------------------------------


class IsoDepCard:
    """The PICC side of ISO-DEP for one card, across activations. Not thread-safe: one driver feeds it."""

    def __init__(self, historical_bytes: bytes, *, fwi: int = DEFAULT_FWI, wtxm: int = DEFAULT_WTXM) -> None:
        if not 0 <= fwi <= 14:
            raise IsoDepLocalError("FWI must be 0..14")
        if not 1 <= wtxm <= 59:
            raise IsoDepLocalError("WTXM must be 1..59")
        self.ats = build_ats(historical_bytes, fwi)
        self.fwi = fwi
        self.wtxm = wtxm
        self._state = IsoDepState.IDLE
        self._block_number = 1
        self._fsd = FS_TABLE[FSCI]
        self._command = bytearray()  # the chained command received so far
        self._pending = b""  # the part of the response not sent yet
        self._last_sent = b""  # what a retransmission repeats

    def __repr__(self) -> str:
        return f"IsoDepCard(state={self._state.name}, block_number={self._block_number})"

    @property
    def state(self) -> IsoDepState:
        return self._state

    @property
    def block_number(self) -> int:
        """The PICC's current block number (ISO 14443-4 §7.5.3.2)."""
        return self._block_number

    @property
    def fsd(self) -> int:
        """The largest frame the reader takes (from its RATS), CRC included."""
        return self._fsd

    # --- the driver's calls ---------------------------------------------------------------------------

    def receive_frame(self, frame: bytes) -> Step:
        """Feed one frame from the reader (without CRC); return what to do next.

        Raises :class:`IsoDepRemoteError` for a frame that is no valid block here (the state is unchanged:
        ignore the frame and keep listening), :class:`IsoDepLocalError` while the application owes an
        answer and no waiting time was requested.
        """
        frame = bytes(frame)
        if self._state is IsoDepState.PROCESSING:
            raise IsoDepLocalError("the application has not answered: answer() or request_waiting_time()")
        received: Rats | Block = parse_rats(frame) if self._state is IsoDepState.IDLE else parse_block(frame)
        return self._transition(received)

    def answer(self, response: bytes) -> Send:
        """The application's response to the last :class:`RunCommand`: returns its first block."""
        step = self._transition(_Answer(bytes(response)))
        assert isinstance(step, Send)
        return step

    def request_waiting_time(self) -> Send:
        """The application needs longer than the frame waiting time: returns the S(WTX) to transmit. The
        reader's answer, fed to :meth:`receive_frame`, comes back as :class:`WaitingTimeGranted`."""
        step = self._transition(_RequestWaitingTime())
        assert isinstance(step, Send)
        return step

    def power_off(self) -> None:
        """The field went away or the card left it: back to :attr:`IsoDepState.IDLE`, whatever the state."""
        self._transition(_PowerOff())

    # --- every transition ---------------------------------------------------------------------------------

    def _transition(self, event: _Input) -> Step:
        S = IsoDepState  # noqa: N806 - short alias keeps the table readable
        match self._state, event:
            case _, _PowerOff():
                self._state = S.IDLE
                self._command.clear()
                self._pending = b""
                return Listen()

            # activation (ISO 14443-4 §5, §7.5.3.2 rule C: the PICC block number starts at 1)
            case S.IDLE, Rats() as rats:
                self._fsd = rats.fsd
                self._block_number = 1
                self._command.clear()
                self._pending = b""
                self._last_sent = self.ats
                self._state = S.READY
                return Activate(self.ats)

            # I-blocks: a piece of a command (a new command abandons any unfinished response chain)
            case ((S.READY | S.RECEIVING | S.SENDING), IBlock(number=number, chaining=True, inf=inf)):
                self._block_number = number
                self._command += inf
                self._pending = b""
                self._state = S.RECEIVING
                return self._send(bytes((_PCB_R | number,)))
            case ((S.READY | S.RECEIVING | S.SENDING), IBlock(number=number, chaining=False, inf=inf)):
                self._block_number = number
                self._command += inf
                command = bytes(self._command)
                self._command.clear()
                self._pending = b""
                self._state = S.PROCESSING
                return RunCommand(command)

            # R-blocks: the PICC's error-recovery rules (§7.5.4)
            case ((S.READY | S.RECEIVING | S.SENDING), RBlock(nak=True, number=number)) if (
                number != self._block_number
            ):
                return self._send(bytes((_PCB_R | self._block_number,)))
            case S.SENDING, RBlock(nak=False, number=number) if number != self._block_number:
                self._block_number = number  # the reader acknowledged our chained block: the next one
                return self._send_next_block()
            case ((S.READY | S.RECEIVING | S.SENDING), RBlock()):
                return Send(self._last_sent)  # our last block went astray: again

            # S-blocks
            case ((S.READY | S.RECEIVING | S.SENDING), SBlock(kind=SBlockKind.DESELECT)):
                self._state = S.IDLE
                self._command.clear()
                self._pending = b""
                return Deselect(bytes((_PCB_S_DESELECT,)))
            case ((S.READY | S.RECEIVING | S.SENDING), SBlock(kind=SBlockKind.WTX)):
                return Listen()  # a late answer to an S(WTX) of ours: nothing to do

            # the application at work
            case S.PROCESSING, _Answer(response=response):
                self._pending = response
                return self._send_next_block()
            case S.PROCESSING, _RequestWaitingTime():
                self._state = S.WAITING_TIME
                return self._send(bytes((_PCB_S_WTX, self.wtxm)))
            case S.WAITING_TIME, SBlock():
                # any S-block is taken as the reader's answer: the application cannot be interrupted
                self._state = S.PROCESSING
                return WaitingTimeGranted(self.wtxm)
            case S.WAITING_TIME, IBlock() | RBlock():
                return Send(self._last_sent)  # a retry that crossed our S(WTX): repeat the request

            case state, _:
                raise IsoDepLocalError(f"{event!r} is not allowed in state {state.name}")

    def _send(self, frame: bytes) -> Send:
        self._last_sent = frame
        return Send(frame)

    def _send_next_block(self) -> Send:
        max_inf = self._fsd - 3  # PCB + CRC
        chunk, self._pending = self._pending[:max_inf], self._pending[max_inf:]
        chaining = _PCB_CHAINING if self._pending else 0
        self._state = IsoDepState.SENDING if self._pending else IsoDepState.READY
        return self._send(bytes((_PCB_I | self._block_number | chaining,)) + chunk)
