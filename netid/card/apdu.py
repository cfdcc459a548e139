"""ISO/IEC 7816-4 command and response APDUs (short and extended length) and status words.

Pure data: encoding and decoding only, no I/O. ``CommandAPDU.from_bytes`` and
``ResponseAPDU.from_bytes`` accept untrusted bytes and raise only :class:`~netid.errors.ParseError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from netid.errors import CardStatusError, ParseError, UsageError

SHORT_NE_MAX = 256
EXTENDED_NE_MAX = 65536
SHORT_NC_MAX = 255
EXTENDED_NC_MAX = 65535

# Status words by name (ISO/IEC 7816-4 §5.6), for code that must *produce* them (the simulator, the
# chip-side protocol state machines); code that receives them uses status_error() and the classes below.
SW_SUCCESS = 0x9000
SW_END_OF_FILE = 0x6282
SW_AUTH_FAILED = 0x6300
SW_WRONG_LENGTH = 0x6700
SW_CHAINING_UNSUPPORTED = 0x6884
SW_SECURITY_STATUS = 0x6982
SW_CONDITIONS = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_SM_MISSING = 0x6987
SW_SM_INCORRECT = 0x6988
SW_WRONG_DATA = 0x6A80
SW_FILE_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_REF_NOT_FOUND = 0x6A88
SW_OFFSET_OUTSIDE = 0x6B00
SW_INS_UNSUPPORTED = 0x6D00
SW_CLA_UNSUPPORTED = 0x6E00


@dataclass(frozen=True, slots=True)
class CommandAPDU:
    """A command APDU. ``ne`` is the expected response length (``None``: no Le field).

    ``ne=256`` encodes as short Le ``00``; ``ne=65536`` as extended Le ``0000``.
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise UsageError(f"{name} must be a byte, got {value!r}")
        if len(self.data) > EXTENDED_NC_MAX:
            raise UsageError("command data longer than 65535 bytes")
        if self.ne is not None and not 1 <= self.ne <= EXTENDED_NE_MAX:
            raise UsageError(f"ne must be 1..65536 or None, got {self.ne}")

    @property
    def needs_extended(self) -> bool:
        """True when the command cannot be encoded in short form."""
        return len(self.data) > SHORT_NC_MAX or (self.ne is not None and self.ne > SHORT_NE_MAX)

    def to_bytes(self, *, extended: bool | None = None) -> bytes:
        """Encode; ``extended=None`` picks short form when it fits."""
        if extended is None:
            extended = self.needs_extended
        elif not extended and self.needs_extended:
            raise UsageError("command does not fit a short APDU")
        header = bytes((self.cla, self.ins, self.p1, self.p2))
        nc = len(self.data)
        if not extended:
            body = b""
            if nc:
                body += bytes((nc,)) + self.data
            if self.ne is not None:
                body += bytes((self.ne % 256,))
            return header + body
        body = b""
        if nc:
            body += b"\x00" + nc.to_bytes(2, "big") + self.data
        if self.ne is not None:
            le = (self.ne % EXTENDED_NE_MAX).to_bytes(2, "big")
            body += le if nc else b"\x00" + le
        return header + body

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandAPDU:
        """Decode any of the seven ISO 7816-3 cases; raise :class:`ParseError` on malformed input."""
        raw = bytes(raw)
        if len(raw) < 4:
            raise ParseError("command APDU", "shorter than the 4-byte header")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        n = len(body)
        if n == 0:  # case 1
            return cls(cla, ins, p1, p2)
        if n == 1:  # case 2S
            return cls(cla, ins, p1, p2, ne=body[0] or SHORT_NE_MAX)
        if body[0] != 0:  # short cases 3S / 4S
            nc = body[0]
            if n == 1 + nc:
                return cls(cla, ins, p1, p2, body[1:])
            if n == 2 + nc:
                return cls(cla, ins, p1, p2, body[1 : 1 + nc], body[-1] or SHORT_NE_MAX)
            raise ParseError("command APDU", "short Lc does not match the body length")
        # extended forms: body starts with 00
        if n == 3:  # case 2E
            le = int.from_bytes(body[1:3], "big")
            return cls(cla, ins, p1, p2, ne=le or EXTENDED_NE_MAX)
        if n < 3:
            raise ParseError("command APDU", "truncated extended length field")
        nc = int.from_bytes(body[1:3], "big")
        if nc == 0:
            raise ParseError("command APDU", "extended Lc of zero")
        if n == 3 + nc:  # case 3E
            return cls(cla, ins, p1, p2, body[3:])
        if n == 5 + nc:  # case 4E
            le = int.from_bytes(body[-2:], "big")
            return cls(cla, ins, p1, p2, body[3 : 3 + nc], le or EXTENDED_NE_MAX)
        raise ParseError("command APDU", "extended Lc does not match the body length")


@dataclass(frozen=True, slots=True)
class ResponseAPDU:
    """A response APDU: data field and the two status bytes."""

    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == SW_SUCCESS

    def to_bytes(self) -> bytes:
        return self.data + bytes((self.sw1, self.sw2))

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseAPDU:
        raw = bytes(raw)
        if len(raw) < 2:
            raise ParseError("response APDU", "shorter than the two status bytes")
        return cls(raw[:-2], raw[-2], raw[-1])

    @classmethod
    def status(cls, sw: int, data: bytes = b"") -> ResponseAPDU:
        return cls(data, sw >> 8, sw & 0xFF)

    def check(self) -> ResponseAPDU:
        """Return ``self`` if the status is 9000, else raise the precise :class:`CardStatusError`."""
        if self.sw != SW_SUCCESS:
            raise status_error(self.sw)
        return self


# --- status words -------------------------------------------------------------------------------


class WarningEndOfFile(CardStatusError):
    """6282: end of file reached before reading Ne bytes."""


class AuthenticationFailed(CardStatusError):
    """6300 / 63Cx: authentication failed (x = retries left, when given)."""

    @property
    def retries_left(self) -> int | None:
        return self.sw & 0x0F if self.sw is not None and (self.sw & 0xFFF0) == 0x63C0 else None


class MemoryFailure(CardStatusError):
    """6581: memory failure."""


class WrongLength(CardStatusError):
    """6700: wrong length (Lc or Le)."""


class SecureMessagingNotSupported(CardStatusError):
    """6882: secure messaging not supported."""


class SecurityStatusNotSatisfied(CardStatusError):
    """6982: security status not satisfied (e.g. read before access control)."""


class AuthenticationMethodBlocked(CardStatusError):
    """6983: authentication method blocked."""


class ReferenceDataNotUsable(CardStatusError):
    """6984: reference data not usable."""


class ConditionsNotSatisfied(CardStatusError):
    """6985: conditions of use not satisfied (e.g. a protocol step out of order)."""


class CommandNotAllowed(CardStatusError):
    """6986: command not allowed (no current EF)."""


class SecureMessagingDataMissing(CardStatusError):
    """6987: expected secure-messaging data objects missing."""


class SecureMessagingDataIncorrect(CardStatusError):
    """6988: incorrect secure-messaging data objects (bad MAC, bad cryptogram)."""


class WrongData(CardStatusError):
    """6A80: incorrect parameters in the command data field."""


class FunctionNotSupported(CardStatusError):
    """6A81: function not supported."""


class FileNotFound(CardStatusError):
    """6A82: file or application not found."""


class IncorrectParameters(CardStatusError):
    """6A86 / 6B00: incorrect P1-P2 (e.g. offset outside the file)."""


class ReferencedDataNotFound(CardStatusError):
    """6A88: referenced data (key, domain parameters) not found."""


class WrongLe(CardStatusError):
    """6Cxx: wrong Le; xx is the exact number of available bytes."""

    @property
    def available(self) -> int:
        return (self.sw or 0) & 0xFF


class InstructionNotSupported(CardStatusError):
    """6D00: instruction code not supported."""


class ClassNotSupported(CardStatusError):
    """6E00: class not supported."""


class NoPreciseDiagnosis(CardStatusError):
    """6F00: no precise diagnosis."""


_EXACT: dict[int, type[CardStatusError]] = {
    0x6282: WarningEndOfFile,
    0x6300: AuthenticationFailed,
    0x6581: MemoryFailure,
    0x6700: WrongLength,
    0x6882: SecureMessagingNotSupported,
    0x6982: SecurityStatusNotSatisfied,
    0x6983: AuthenticationMethodBlocked,
    0x6984: ReferenceDataNotUsable,
    0x6985: ConditionsNotSatisfied,
    0x6986: CommandNotAllowed,
    0x6987: SecureMessagingDataMissing,
    0x6988: SecureMessagingDataIncorrect,
    0x6A80: WrongData,
    0x6A81: FunctionNotSupported,
    0x6A82: FileNotFound,
    0x6A86: IncorrectParameters,
    0x6A88: ReferencedDataNotFound,
    0x6B00: IncorrectParameters,
    0x6D00: InstructionNotSupported,
    0x6E00: ClassNotSupported,
    0x6F00: NoPreciseDiagnosis,
}


def status_error(sw: int) -> CardStatusError:
    """The precise exception for an error status word (unknown ones give a plain CardStatusError)."""
    cls = _EXACT.get(sw)
    if cls is None:
        if (sw & 0xFFF0) == 0x63C0:
            cls = AuthenticationFailed
        elif (sw >> 8) == 0x6C:
            cls = WrongLe
        else:
            cls = CardStatusError
    doc = (cls.__doc__ or "").strip()
    return cls(sw, f"{sw:04X} {doc}" if doc else None)
