"""PC/SC readers (pcsc-lite, Windows WinSCard, macOS CryptoTokenKit) through pyscard.

Uses pyscard's thin ``smartcard.scard`` layer (the PC/SC C API one-to-one), so every failure arrives as
the PC/SC return code and maps precisely onto the NetID errors:

==============================================  ==========================================
PC/SC                                           NetID
==============================================  ==========================================
no reader / unknown / unavailable reader        :class:`~netid.errors.NoReaderError`
no card within the wait                         :class:`~netid.errors.NoCardError`
card removed / reset / mute, transmit failed    :class:`~netid.errors.TagLostError`
SCARD_E_TIMEOUT during a transmit               :class:`~netid.errors.CardTimeoutError`
PC/SC service not running                       :class:`~netid.errors.NoReaderError`
anything else                                   :class:`~netid.errors.ReaderError`
==============================================  ==========================================

The transport also does what ISO 7816-3/-4 leave to the terminal for T=0 cards (and which some contactless
readers imitate): ``61xx`` is followed by GET RESPONSE until the data is complete, ``6Cxx`` re-sends the
command once with Le = xx — for plain commands only: an SM-protected command (CLA bits ``0C`` set) gets its
response as is. That logic is the sans-I/O :class:`~netid.card.backends.t0.T0Exchange`; this module only
moves its APDUs. Nothing above APDUs happens here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from netid.card.backends.t0 import T0Exchange, T0Step, Transmit
from netid.card.interface import CardConnection, CardReader
from netid.errors import (
    CardTimeoutError,
    NoCardError,
    NoReaderError,
    ReaderError,
    TagLostError,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
#: after a tag loss, how long connect() waits for the card to be presented again before it takes the
#: card that is there (it may never have left: a glitch, or a swap faster than the reader's presence poll)
REPRESENT_GRACE = 2.0

_INSTALL_HINT = "PC/SC support needs pyscard: pip install 'netid[pcsc]' (and a running pcscd on Linux)"


def _scard() -> Any:
    try:
        from smartcard import scard  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ReaderError(_INSTALL_HINT) from exc
    return scard


def _message(scard: Any, hr: int) -> str:
    try:
        return str(scard.SCardGetErrorMessage(hr)).strip()
    except Exception:  # pragma: no cover - message lookup is best effort
        return ""


def _error(scard: Any, hr: int, doing: str) -> ReaderError:
    """The NetID error for PC/SC return code ``hr`` (``doing`` says what failed)."""
    code = hr & 0xFFFFFFFF
    detail = f"{doing}: {_message(scard, hr)} (PC/SC 0x{code:08X})"
    if code in {
        scard.SCARD_E_NO_READERS_AVAILABLE & 0xFFFFFFFF,
        scard.SCARD_E_UNKNOWN_READER & 0xFFFFFFFF,
        scard.SCARD_E_READER_UNAVAILABLE & 0xFFFFFFFF,
    }:
        return NoReaderError(detail)
    if code in {
        scard.SCARD_W_REMOVED_CARD & 0xFFFFFFFF,
        scard.SCARD_E_NO_SMARTCARD & 0xFFFFFFFF,
        scard.SCARD_E_NOT_TRANSACTED & 0xFFFFFFFF,
        scard.SCARD_W_UNRESPONSIVE_CARD & 0xFFFFFFFF,
        scard.SCARD_W_UNPOWERED_CARD & 0xFFFFFFFF,
        scard.SCARD_W_RESET_CARD & 0xFFFFFFFF,
        scard.SCARD_E_COMM_DATA_LOST & 0xFFFFFFFF,
    }:
        return TagLostError(detail)
    if code == scard.SCARD_E_TIMEOUT & 0xFFFFFFFF:
        return CardTimeoutError(detail)
    if code in {scard.SCARD_E_NO_SERVICE & 0xFFFFFFFF, scard.SCARD_E_SERVICE_STOPPED & 0xFFFFFFFF}:
        # without the service no reader can be seen: for the user that is "no reader", with the fix
        return NoReaderError(f"{detail} — is the PC/SC service (pcscd) installed and running?")
    return ReaderError(detail)


class _Context:
    """One PC/SC context, re-established when the service restarts."""

    def __init__(self) -> None:
        self.scard = _scard()
        self._handle: Any = None

    def get(self) -> Any:
        if self._handle is None:
            hr, handle = self.scard.SCardEstablishContext(self.scard.SCARD_SCOPE_USER)
            if hr != self.scard.SCARD_S_SUCCESS:
                raise _error(self.scard, hr, "cannot reach the PC/SC service")
            self._handle = handle
        return self._handle

    def invalidate(self) -> None:
        if self._handle is not None:
            try:
                self.scard.SCardReleaseContext(self._handle)
            except Exception:  # pragma: no cover - the service may be gone already
                log.debug("SCardReleaseContext failed", exc_info=True)
            self._handle = None

    def readers(self) -> list[str]:
        scard = self.scard
        for attempt in (1, 2):
            try:
                hr, readers = scard.SCardListReaders(self.get(), [])
            except SystemError:  # pyscard raises this when the service vanished under the context
                hr, readers = scard.SCARD_E_NO_SERVICE, []
            if hr == scard.SCARD_S_SUCCESS:
                return list(readers)
            if hr & 0xFFFFFFFF == scard.SCARD_E_NO_READERS_AVAILABLE & 0xFFFFFFFF:
                return []
            if attempt == 1 and hr & 0xFFFFFFFF in {
                scard.SCARD_E_INVALID_HANDLE & 0xFFFFFFFF,
                scard.SCARD_E_NO_SERVICE & 0xFFFFFFFF,
                scard.SCARD_E_SERVICE_STOPPED & 0xFFFFFFFF,
            }:
                self.invalidate()
                continue
            raise _error(scard, hr, "cannot list PC/SC readers")
        return []  # pragma: no cover - loop always returns or raises


def list_pcsc_readers() -> list[str]:
    """Names of the PC/SC readers attached now (empty when none, or when no PC/SC service runs)."""
    context = _Context()
    try:
        return context.readers()
    except ReaderError:
        return []
    finally:
        context.invalidate()


class PcscConnection(CardConnection):
    """A connected card in one PC/SC reader."""

    def __init__(  # noqa: PLR0917 - internal constructor
        self,
        reader: PcscReader,
        handle: Any,
        protocol: int,
        atr: bytes,
        event_count: int,
        max_apdu_length: int | None,
    ) -> None:
        self._reader = reader
        self._scard = reader._context.scard
        self._handle: Any = handle
        self._protocol = protocol
        self._atr = atr
        self._event_count = event_count
        self._max_apdu_length = max_apdu_length
        self._lost = False
        self.apdu_count = 0

    @property
    def ats(self) -> bytes:
        """The ATR; for a contactless card the reader's pseudo-ATR ``3B 8n 80 01 <historical bytes> TCK``
        (PC/SC part 3), whose historical bytes the read driver takes the ATS's card capabilities from."""
        return self._atr

    @property
    def protocol(self) -> str:
        return "T=1" if self._protocol == self._scard.SCARD_PROTOCOL_T1 else "T=0"

    @property
    def max_apdu_length(self) -> int | None:
        return self._max_apdu_length

    def transceive(self, command: bytes) -> bytes:
        # the T=0 status words (61xx, 6Cxx) are the exchange's business; this only moves its APDUs
        exchange = T0Exchange(command)
        step: T0Step = exchange.start()
        while isinstance(step, Transmit):
            step = exchange.receive(self._transmit(step.apdu))
        return step.response

    def _transmit(self, command: bytes) -> bytes:
        scard = self._scard
        if self._handle is None or self._lost:
            raise TagLostError("the card left the reader; present it again and reconnect")
        self.apdu_count += 1
        try:
            hr, response = scard.SCardTransmit(self._handle, self._protocol, list(command))
        except SystemError as exc:  # pyscard's wrapper failing means the service went away
            self._mark_lost()
            raise ReaderError("the PC/SC service failed during a transmit") from exc
        if hr != scard.SCARD_S_SUCCESS:
            error = _error(scard, hr, "transmit failed")
            if isinstance(error, TagLostError):
                self._mark_lost()
            raise error
        if len(response) < 2:
            # the reader reported success without a response: the card did not answer (it left)
            self._mark_lost()
            raise TagLostError("the card did not answer — it moved or left the reader; hold it still")
        return bytes(response)

    def _mark_lost(self) -> None:
        self._lost = True
        self._reader._note_lost(self._event_count)

    def disconnect(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        # reset the card on release so no access rights or session keys outlive this connection
        disposition = self._scard.SCARD_LEAVE_CARD if self._lost else self._scard.SCARD_RESET_CARD
        try:
            self._scard.SCardDisconnect(handle, disposition)
        except Exception:  # pragma: no cover - best effort on a dead handle
            log.debug("SCardDisconnect failed", exc_info=True)


class PcscReader(CardReader):
    """A PC/SC reader. ``name``: exact reader name or a case-insensitive substring of it; ``None`` takes
    the first reader with a card in it (else the first reader).

    ``max_apdu_length`` overrides what the reader reports (``SCARD_ATTR_MAXINPUT``); leave ``None`` to
    ask the reader.
    """

    def __init__(self, name: str | None = None, *, max_apdu_length: int | None = None) -> None:
        self._context = _Context()
        self._pattern = name
        self.name = name or "PC/SC"
        self._max_apdu_length = max_apdu_length
        self._lost_event: int | None = None

    def readers(self) -> list[str]:
        return self._context.readers()

    def _resolve(self) -> str:
        readers = self._context.readers()
        if not readers:
            raise NoReaderError("no PC/SC reader is connected")
        if self._pattern is None:
            for reader in readers:
                if self._state(reader, self._context.scard.SCARD_STATE_UNAWARE, 0)[0] & (
                    self._context.scard.SCARD_STATE_PRESENT
                ):
                    return reader
            return readers[0]
        if self._pattern in readers:
            return self._pattern
        matches = [r for r in readers if self._pattern.lower() in r.lower()]
        if not matches:
            raise NoReaderError(f"no PC/SC reader matches {self._pattern!r}; attached: {', '.join(readers)}")
        return matches[0]

    def _state(self, reader: str, current: int, timeout_ms: int) -> tuple[int, bytes]:
        """SCardGetStatusChange for one reader: (event state, ATR). Raises on errors but not on timeout."""
        scard = self._context.scard
        hr, states = scard.SCardGetStatusChange(self._context.get(), timeout_ms, [(reader, current)])
        code = hr & 0xFFFFFFFF
        if code == scard.SCARD_E_TIMEOUT & 0xFFFFFFFF:
            return current, b""
        if hr != scard.SCARD_S_SUCCESS:
            if code in {scard.SCARD_E_INVALID_HANDLE & 0xFFFFFFFF, scard.SCARD_E_NO_SERVICE & 0xFFFFFFFF}:
                self._context.invalidate()
            raise _error(scard, hr, f"cannot watch reader {reader!r}")
        _, event, atr = states[0]
        if event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
            raise NoReaderError(f"reader {reader!r} is gone or unavailable")
        return int(event), bytes(atr)

    def _note_lost(self, event_count: int) -> None:
        self._lost_event = event_count

    def connect(self, timeout: float | None = None) -> PcscConnection:
        scard = self._context.scard
        wait = DEFAULT_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + wait
        grace_end = time.monotonic() + min(wait, REPRESENT_GRACE)
        reader = self._resolve()
        self.name = reader
        current = scard.SCARD_STATE_UNAWARE
        while True:
            now = time.monotonic()
            remaining_ms = max(0, int((deadline - now) * 1000))
            waiting_for_fresh = self._lost_event is not None and now < grace_end
            step_ms = remaining_ms
            if waiting_for_fresh:
                step_ms = min(remaining_ms, max(0, int((grace_end - now) * 1000)))
            event, atr = self._state(reader, current, step_ms)
            present = bool(event & scard.SCARD_STATE_PRESENT) and not event & scard.SCARD_STATE_MUTE
            # after a tag loss, wait (for the grace period) for the card to be presented again: pcsc-lite
            # counts card insertions and removals in the upper 16 bits of the event state
            fresh = self._lost_event is None or (event >> 16) != self._lost_event
            if present and (fresh or time.monotonic() >= grace_end):
                break
            if remaining_ms == 0:
                if event & scard.SCARD_STATE_MUTE:
                    raise NoCardError(f"the card in {reader!r} does not answer (mute); present it again")
                raise NoCardError(f"no card presented to {reader!r} within {wait:g} s")
            current = event & ~scard.SCARD_STATE_CHANGED
        return self._connect_card(reader, atr, event >> 16)

    def _connect_card(self, reader: str, atr: bytes, event_count: int) -> PcscConnection:
        scard = self._context.scard
        ctx = self._context.get()
        # T=1 preferred (contactless readers always speak it); fall back to whatever the card offers
        shared = scard.SCARD_SHARE_SHARED
        hr, handle, protocol = scard.SCardConnect(ctx, reader, shared, scard.SCARD_PROTOCOL_T1)
        if hr & 0xFFFFFFFF == scard.SCARD_E_PROTO_MISMATCH & 0xFFFFFFFF:
            hr, handle, protocol = scard.SCardConnect(
                ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
            )
        if hr != scard.SCARD_S_SUCCESS:
            error = _error(scard, hr, f"cannot connect to the card in {reader!r}")
            if isinstance(error, TagLostError):
                raise NoCardError(str(error))
            raise error
        self._lost_event = None
        hr, _name, _state, _proto, status_atr = scard.SCardStatus(handle)
        if hr == scard.SCARD_S_SUCCESS and status_atr:
            atr = bytes(status_atr)
        return PcscConnection(self, handle, protocol, atr, event_count, self._max_input(handle))

    def _max_input(self, handle: Any) -> int | None:
        if self._max_apdu_length is not None:
            return self._max_apdu_length
        scard = self._context.scard
        try:
            hr, value = scard.SCardGetAttrib(handle, scard.SCARD_ATTR_MAXINPUT)
        except Exception:  # pragma: no cover - optional attribute
            return None
        if hr != scard.SCARD_S_SUCCESS or not value:
            return None
        return int.from_bytes(bytes(value), "little") or None

    def close(self) -> None:
        self._context.invalidate()


def open_pcsc_reader(name: str) -> PcscReader:
    """The :func:`~netid.card.backends.registry.open_reader` factory for ``pcsc[:NAME]``."""
    return PcscReader(name or None)
