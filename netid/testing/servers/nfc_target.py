"""Serve a :class:`~netid.card.interface.CardApplication` as an ISO 14443-4 (ISO-DEP) Type 4A card on
nfcpy's ``udp`` driver, so :class:`~netid.card.backends.nfc.NfcReader` on ``udp:127.0.0.1:PORT`` reads it
through real nfcpy: anticollision, RATS/ATS, I-block exchange with chaining, WTX and R(ACK)/R(NAK)
recovery all run as on a radio link.

The card side of ISO 14443-4 (§7) kept here is small: the block numbering rules for the PICC, command
chaining (R(ACK) per chained I-block), response chaining cut at the reader's FSD, S(WTX) while the
application computes (so a slow chip operation does not time out the reader), S(DESELECT). The
application's :class:`~netid.card.interface.CardRemoved` makes the card fall silent mid-exchange: the
reader's retries time out exactly as when a card leaves the field, and the card is back in the field
for the next activation (each activation power-cycles the application with ``reset()``).

The udp driver binds its listening socket to every interface; this server rebinds it to the loopback
address only.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from netid.card.interface import CardApplication, CardRemoved
from netid.errors import ReaderError, UsageError

log = logging.getLogger(__name__)

_FS_TABLE = (16, 24, 32, 40, 48, 64, 96, 128, 256)  # FSCI/FSDI -> frame size (ISO 14443-4 Table 1)
_FSCI = 8  # we accept 256-byte frames
_DEFAULT_FWI = 8  # FWT = 4096 * 2^8 / fc = 77 ms; the reader retries a silent card 5 times
_IDLE_SLICE = 0.25  # how long one wait for the reader lasts before checking for stop()
# each listen() closes and re-binds the udp socket, so listen long; stop() wakes the thread with a datagram
_LISTEN_SLICE = 5.0
_WTXM = 10

_PCB_I = 0x02
_PCB_CHAINING = 0x10
_PCB_CID = 0x08
_PCB_NAD = 0x04
_PCB_R_ACK = 0xA2
_PCB_R_NAK = 0xB2
_PCB_S_DESELECT = 0xC2
_PCB_S_WTX = 0xF2

_INSTALL_HINT = "the NFC card server needs nfcpy: pip install 'netid[nfc]'"


def _nfc() -> Any:
    try:
        import nfc  # noqa: PLC0415 - optional dependency, imported on use
        import nfc.clf  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ReaderError(_INSTALL_HINT) from exc
    return nfc


def fwt_seconds(fwi: int) -> float:
    """Frame waiting time for FWI (ISO 14443-4 §7.2): 256 * 16 / fc * 2^FWI."""
    return 4096 / 13.56e6 * (1 << fwi)


def build_ats(historical_bytes: bytes, fwi: int = _DEFAULT_FWI) -> bytes:
    """ATS: TL, T0 (TA, TB, TC present; FSCI), TA (same bit rate both ways), TB (FWI, SFGI 0),
    TC (no NAD, no CID), then the historical bytes."""
    body = bytes((0x70 | _FSCI, 0x80, (fwi << 4) & 0xF0, 0x00)) + historical_bytes
    if len(body) + 1 > _FS_TABLE[_FSCI] - 2:
        raise UsageError("historical bytes too long for an ATS")
    return bytes((len(body) + 1,)) + body


class _Silent(Exception):  # noqa: N818 - control flow inside the card thread
    """The card stops answering for this activation (CardRemoved, or the reader went away)."""


class NfcTarget:
    """A Type 4A card listening on ``udp:host:port`` until :meth:`stop`."""

    def __init__(
        self,
        app: CardApplication,
        *,
        port: int,
        host: str = "127.0.0.1",
        uid: bytes = b"\x08\x4e\x49\x44",
        fwi: int = _DEFAULT_FWI,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise UsageError("the NFC card server only listens on the loopback interface")
        if not 0 <= fwi <= 14:
            raise UsageError("FWI must be 0..14")
        self.app = app
        self.host = host
        self.port = port
        self.uid = uid
        self.fwi = fwi
        self.fwt = fwt_seconds(fwi)
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self._clf: Any = None
        self._worker: ThreadPoolExecutor | None = None
        #: ISO-DEP activations (RATS) served, and removals the application signalled — for tests
        self.activations = 0
        self.removals = 0

    @property
    def reader_path(self) -> str:
        """The nfcpy device path a reader opens to reach this card."""
        return f"udp:{self.host}:{self.port}"

    # --- control ---------------------------------------------------------------------------------

    def start(self) -> NfcTarget:
        if self._thread is not None:
            raise UsageError("NFC target already started")
        nfc = _nfc()
        clf = nfc.ContactlessFrontend()
        if not clf.open(f"udp:{self.host}:{self.port}"):
            raise ReaderError(f"cannot open nfcpy's udp driver on {self.host}:{self.port}")
        self._bind_to_loopback(clf.device)
        self._clf = clf
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netid-nfc-app")
        self._thread = threading.Thread(target=self._run, name="netid-nfc-target", daemon=True)
        self._thread.start()
        if not self._listening.wait(timeout=5.0):
            self.stop()
            raise ReaderError(f"the NFC card server could not bind {self.host}:{self.port}/udp")
        return self

    def stop(self) -> None:
        """Stop answering, close the udp device and join the card thread. Idempotent."""
        self._stopping.set()
        if self._thread is not None:
            # the wake-up datagram is lost if it lands while the udp driver re-creates its socket
            # (each listen() does), so repeat it until the thread is out, within a deadline
            deadline = time.monotonic() + 5.0
            while self._thread.is_alive() and time.monotonic() < deadline:
                self._wake()
                self._thread.join(timeout=0.05)
            if self._thread.is_alive():  # pragma: no cover - would mean a blocked socket call
                log.warning("NFC target thread did not stop")
            self._thread = None
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        if self._clf is not None:
            device = self._clf.device
            self._clf.close()
            self._clf = None
            if device is not None and device.socket is not None:  # mute() no longer closes it
                device.socket.close()
                device.socket = None

    def __enter__(self) -> NfcTarget:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wake(self) -> None:
        """Unblock the card thread's socket wait (the udp driver waits in select() on its socket)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, contextlib.suppress(OSError):
            s.sendto(b"106A 00", (self.host, self.port))

    def _bind_to_loopback(self, device: Any) -> None:
        """Adapt nfcpy's udp Device for a long-lived card: bind the listening socket to loopback only
        (nfcpy binds ``0.0.0.0``) and keep it open between activations (nfcpy closes and re-binds it on
        every listen(), so a reader polling right after a deactivation would hit a closed port and lose
        a second per technology to its timeout)."""
        host, port, listening = self.host, self.port, self._listening

        def bind_socket(time_to_return: float) -> bool:
            if device.socket.getsockname()[1] == port:  # still bound from the previous activation
                return True
            try:
                device.socket.bind((host, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
                raise
            listening.set()
            return True

        def mute() -> None:
            """A card has no RF field to switch off: nothing to do between activations."""

        device._bind_socket = bind_socket
        device.mute = mute

    # --- card thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        nfc = _nfc()
        target = nfc.clf.LocalTarget("106A")
        target.sens_res = bytearray(b"\x44\x00")
        target.sdd_res = bytearray(self.uid)
        target.sel_res = bytearray(b"\x20")  # ISO-DEP (14443-4) compliant
        while not self._stopping.is_set():
            try:
                activated = self._clf.listen(target, _LISTEN_SLICE)
            except nfc.clf.CommunicationError:
                continue
            except OSError:
                if self._stopping.is_set():
                    break
                raise
            if self._stopping.is_set():
                break
            rats = getattr(activated, "tt4_cmd", None) if activated is not None else None
            if not rats or rats[0] != 0xE0 or len(rats) < 2:
                continue  # anything but RATS (stray retries of a lost exchange, probes): stay silent
            try:
                self._activation(bytes(rats))
            except _Silent:
                pass
            except nfc.clf.BrokenLinkError:
                log.debug("reader switched the field off")
            except nfc.clf.CommunicationError as exc:
                log.debug("activation ended: %r", exc)

    def _exchange(self, frame: bytes | None) -> bytes:
        """Send ``frame`` (None: nothing) and wait for the reader's next frame, until stop()."""
        nfc = _nfc()
        data = frame
        while True:
            try:
                received = self._clf.exchange(bytearray(data) if data is not None else None, _IDLE_SLICE)
            except nfc.clf.TimeoutError:
                received = None
            if self._stopping.is_set():
                raise _Silent
            if received:
                return bytes(received)
            data = None

    def _activation(self, rats: bytes) -> None:
        fsd = _FS_TABLE[min(rats[1] >> 4, 8)]
        max_inf = fsd - 3  # PCB + CRC
        self.app.reset()
        self.activations += 1
        card_bn = 1  # ISO 14443-4 §7.5.3.2 rule C: the PICC block number starts at 1
        last_sent = build_ats(self.app.historical_bytes, self.fwi)
        frame = self._exchange(last_sent)
        command = bytearray()
        pending = b""

        while True:
            pcb = frame[0]
            header = 1 + bool(pcb & _PCB_CID) + bool(pcb & _PCB_NAD)
            if pcb & 0xE2 == _PCB_I:  # I-block
                card_bn = pcb & 1
                command += frame[header:]
                if pcb & _PCB_CHAINING:
                    last_sent = bytes((_PCB_R_ACK | card_bn,))
                else:
                    response = self._run_app(bytes(command))
                    command.clear()
                    pending = response
                    last_sent, pending = self._next_block(card_bn, pending, max_inf)
            elif pcb & 0xE6 == 0xA2:  # R-block
                bn = pcb & 1
                if pcb & 0x10:  # R(NAK): resend if it is about our last block, else acknowledge
                    if bn != card_bn:
                        last_sent = bytes((_PCB_R_ACK | card_bn,))
                elif bn != card_bn and pending:  # R(ACK) for a chained response block: go on
                    card_bn = bn
                    last_sent, pending = self._next_block(card_bn, pending, max_inf)
                # R(ACK) with our block number: retransmit last_sent unchanged
            elif pcb & 0xC7 == 0xC2:  # S-block
                if pcb & 0x30 == 0x00:  # DESELECT: answer and leave the activation
                    self._clf.exchange(bytearray((_PCB_S_DESELECT,)), 0)
                    return
                frame = self._exchange(None)  # a late S(WTX) answer: nothing to do
                continue
            else:
                frame = self._exchange(None)  # not ISO-DEP: ignore
                continue
            frame = self._exchange(last_sent)

    @staticmethod
    def _next_block(card_bn: int, pending: bytes, max_inf: int) -> tuple[bytes, bytes]:
        chunk, rest = pending[:max_inf], pending[max_inf:]
        pcb = _PCB_I | card_bn | (_PCB_CHAINING if rest else 0)
        return bytes((pcb,)) + chunk, rest

    def _run_app(self, command: bytes) -> bytes:
        """Run the application off the radio thread, asking for waiting time (S(WTX)) while it works."""
        assert self._worker is not None
        future: Future[bytes] = self._worker.submit(self.app.process, command)
        wait = self.fwt / 2
        while True:
            try:
                return future.result(timeout=wait)
            except CardRemoved:
                self.removals += 1
                log.debug("card removed mid-APDU: falling silent")
                raise _Silent from None
            except FutureTimeout:
                pass
            # still computing: request WTXM x FWT more; the reader echoes the S(WTX)
            reply = self._exchange(bytes((_PCB_S_WTX, _WTXM)))
            while reply[0] & 199 != 194:  # a retry (R(NAK)) that crossed our request
                reply = self._exchange(bytes((_PCB_S_WTX, _WTXM)))
            wait = self.fwt * _WTXM / 2
