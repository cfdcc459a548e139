"""Serve a :class:`~netid.card.interface.CardApplication` as an ISO 14443-4 (ISO-DEP) Type 4A card on
nfcpy's ``udp`` driver, so :class:`~netid.card.backends.nfc.NfcReader` on ``udp:127.0.0.1:PORT`` reads it
through real nfcpy: anticollision, RATS/ATS, I-block exchange with chaining, WTX and R(ACK)/R(NAK)
recovery all run as on a radio link.

This module is the I/O driver only. The card side of ISO 14443-4 — RATS/ATS, block numbering, command and
response chaining, R(ACK)/R(NAK) recovery, S(WTX), S(DESELECT) — is the sans-I/O state machine
:class:`~netid.testing.servers.isodep.IsoDepCard`; the driver moves its frames over nfcpy, runs the
application off the radio thread and asks the machine for waiting time while the application computes
(so a slow chip operation does not time out the reader). The application's
:class:`~netid.card.interface.CardRemoved` makes the card fall silent mid-exchange: the reader's retries
time out exactly as when a card leaves the field, and the card is back in the field for the next
activation (each activation power-cycles the application with ``reset()``).

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
from netid.testing.servers.isodep import (
    DEFAULT_FWI,
    Activate,
    Deselect,
    IsoDepCard,
    IsoDepRemoteError,
    Listen,
    RunCommand,
    Send,
    Step,
    WaitingTimeGranted,
    build_ats,
    fwt_seconds,
)

__all__ = ["NfcTarget", "build_ats", "fwt_seconds"]

log = logging.getLogger(__name__)

_IDLE_SLICE = 0.25  # how long one wait for the reader lasts before checking for stop()
# each listen() closes and re-binds the udp socket, so listen long; stop() wakes the thread with a datagram
_LISTEN_SLICE = 5.0

_INSTALL_HINT = "the NFC card server needs nfcpy: pip install 'netid[nfc]'"


def _nfc() -> Any:
    try:
        import nfc  # noqa: PLC0415 - optional dependency, imported on use
        import nfc.clf  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ReaderError(_INSTALL_HINT) from exc
    return nfc


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
        fwi: int = DEFAULT_FWI,
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
        self._card = IsoDepCard(app.historical_bytes, fwi=fwi)  # touched by the card thread only
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
            if not rats:
                continue
            try:
                step = self._card.receive_frame(bytes(rats))
            except IsoDepRemoteError:
                continue  # anything but RATS (stray retries of a lost exchange, probes): stay silent
            try:
                self._activation(step)
            except _Silent:
                pass
            except nfc.clf.BrokenLinkError:
                log.debug("reader switched the field off")
            except nfc.clf.CommunicationError as exc:
                log.debug("activation ended: %r", exc)
            finally:
                self._card.power_off()

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

    def _receive(self, frame: bytes) -> Step:
        """The state machine's step for ``frame``; an invalid block is ignored (ISO 14443-4 recovery)."""
        try:
            return self._card.receive_frame(frame)
        except IsoDepRemoteError as exc:
            log.debug("ignoring a frame: %s", exc)
            return Listen()

    def _activation(self, step: Step) -> None:
        """One activation, from the ATS to DESELECT (or until the card falls silent)."""
        while True:
            match step:
                case Activate(ats=ats):
                    self.app.reset()
                    self.activations += 1
                    frame = self._exchange(ats)
                case Send(frame=out):
                    frame = self._exchange(out)
                case Listen():
                    frame = self._exchange(None)
                case RunCommand(apdu=command):
                    frame = self._exchange(self._run_app(command).frame)
                case Deselect(frame=out):
                    self._clf.exchange(bytearray(out), 0)
                    return
                case WaitingTimeGranted():  # pragma: no cover - only while _run_app waits
                    raise AssertionError("waiting time granted outside a command")
            step = self._receive(frame)

    def _run_app(self, command: bytes) -> Send:
        """Run the application off the radio thread, asking for waiting time (S(WTX)) while it works;
        return the first block of its response."""
        assert self._worker is not None
        future: Future[bytes] = self._worker.submit(self.app.process, command)
        wait = self.fwt / 2
        while True:
            try:
                response = future.result(timeout=wait)
            except CardRemoved:
                self.removals += 1
                log.debug("card removed mid-APDU: falling silent")
                raise _Silent from None
            except FutureTimeout:
                pass
            else:
                return self._card.answer(response)
            # still computing: ask for more time and wait for the reader's S(WTX) answer
            step: Step = self._card.request_waiting_time()
            while not isinstance(step, WaitingTimeGranted):
                frame = self._exchange(step.frame if isinstance(step, Send) else None)
                step = self._receive(frame)
            wait = self.fwt * step.multiplier / 2
