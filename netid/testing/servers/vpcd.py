"""A virtual card for pcscd's ``vpcd`` driver (vsmartcard), so PC/SC applications read a
:class:`~netid.card.interface.CardApplication` through the real pcscd and pyscard stacks.

The wire protocol (vsmartcard's ``vpcd.c``): every message is a 2-byte big-endian length and a payload.
A 1-byte payload from vpcd is a control code — 0 power off, 1 power on, 2 reset, 4 get ATR (answered with
the length-prefixed ATR; the others are not answered); a longer payload is a command APDU, answered with
the length-prefixed response APDU.

Which side listens. vpcd can listen for the card (``DEVICENAME /dev/null:PORT`` in reader.conf) or, in
"reversed mode" (``DEVICENAME 127.0.0.1:PORT``), connect out to a card that listens. This module connects
to a listening vpcd, because reversed mode cannot model a card leaving the field with the vpcd shipped in
Debian 12 (vsmartcard 3.3): once the card side closes the connection, the driver's next presence poll
calls ``select`` on an invalid socket and glibc aborts pcscd ("bit out of range 0 - FD_SETSIZE on
fd_set"). The listening mode is vpcd's own design (a card "enters the reader" by connecting and "leaves"
by disconnecting), so tag loss is modelled faithfully. vpcd listens on every interface; the test harness
(``tests/integration/pcsc_env.py``) therefore runs its private pcscd in its own network namespace and
passes a ``connect`` callable that opens the socket there, so nothing is reachable from outside.

:class:`CardRemoved` raised by the application mid-APDU closes the connection without an answer, which is
what pcscd sees when a contactless card leaves the field: the transmit fails and the next presence poll
reports the reader empty. After ``removal_time`` seconds the card "comes back" (reconnects, fresh
power-on), as a user re-presenting the card would.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable

from netid.card.interface import CardApplication, CardRemoved
from netid.errors import UsageError

log = logging.getLogger(__name__)

#: vpcd's default port (0x8C7B); the second slot of the same reader uses the next port
VPCD_PORT = 0x8C7B

CTRL_POWER_OFF = 0
CTRL_POWER_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4

_MAX_HISTORICAL_BYTES = 15
#: pcscd polls card presence every 0.4 s; a removal must outlast at least one poll to be seen
_DEFAULT_REMOVAL_TIME = 1.0
_RECONNECT_INTERVAL = 0.05


def contactless_atr(historical_bytes: bytes) -> bytes:
    """The ATR a PC/SC reader synthesises for an ISO 14443-4 card (PC/SC part 3, §3.1.3.2.3).

    ``3B 8n 80 01`` + historical bytes + TCK: TS direct convention, T0 announcing TD1 and n historical
    bytes, TD1 announcing TD2 (T=0), TD2 announcing T=1, and the check byte TCK = XOR of T0..last byte.
    """
    if len(historical_bytes) > _MAX_HISTORICAL_BYTES:
        raise UsageError("an ATR carries at most 15 historical bytes")
    body = bytes((0x80 | len(historical_bytes), 0x80, 0x01)) + historical_bytes
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes((tck,))


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge at once. vpcd writes the length and the payload with two send() calls; with Nagle on
    its side and delayed ACKs on ours, every message would wait ~40 ms for our ACK. Linux resets
    TCP_QUICKACK after use, so it is set before every read."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


class _Closed(Exception):  # noqa: N818 - control-flow signal, not an error
    """The vpcd side closed the connection (or stop() shut it down)."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        _quick_ack(sock)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise _Closed
        buf += chunk
    return bytes(buf)


class VpcdCard:
    """Present ``app`` to a listening vpcd slot until :meth:`stop`.

    ``connect`` opens a fresh connected socket to vpcd (default: TCP to ``host:port``, loopback only).
    ``app=None`` is an empty slot. The card thread reconnects whenever the link drops, so pcscd may be
    started before or after the card.
    """

    def __init__(
        self,
        app: CardApplication | None,
        *,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        connect: Callable[[], socket.socket] | None = None,
        removal_time: float = _DEFAULT_REMOVAL_TIME,
    ) -> None:
        if connect is None:
            if not ipaddress.ip_address(host).is_loopback:
                raise UsageError("the virtual card only talks to a vpcd on the loopback interface")

            def connect() -> socket.socket:
                return socket.create_connection((host, port), timeout=1.0)

        self._connect = connect
        self._app = app
        self._removal_time = removal_time
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        #: how many times the card entered the reader (connected to vpcd) — for tests and diagnostics
        self.insertions = 0
        #: how many times the application signalled removal mid-APDU
        self.removals = 0

    # --- control ---------------------------------------------------------------------------------

    def start(self) -> VpcdCard:
        if self._thread is not None:
            raise UsageError("virtual card already started")
        self._thread = threading.Thread(target=self._run, name="netid-vpcd-card", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Leave the reader and stop the card thread. Idempotent."""
        self._stopping.set()
        self._wake.set()
        self._drop_link()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():  # pragma: no cover - would mean a blocked socket call
                log.warning("vpcd card thread did not stop")
            self._thread = None

    def insert(self, app: CardApplication) -> None:
        """Put ``app`` into the (empty) slot."""
        with self._lock:
            self._app = app
        self._wake.set()

    def remove(self) -> None:
        """Take the card out of the reader (the slot stays empty until :meth:`insert`)."""
        with self._lock:
            self._app = None
        self._drop_link()

    def __enter__(self) -> VpcdCard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- card thread ------------------------------------------------------------------------------

    def _drop_link(self) -> None:
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                app = self._app
            if app is None:
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                sock = self._connect()
            except OSError:
                # vpcd not listening (yet): poll with a short interval until it is, or until stop()
                self._stopping.wait(_RECONNECT_INTERVAL)
                continue
            sock.settimeout(None)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:  # stop() or remove() may have run while we connected
                if self._stopping.is_set() or self._app is not app:
                    sock.close()
                    continue
                self._sock = sock
            self.insertions += 1
            removed = False
            try:
                removed = self._serve(sock, app)
            except (_Closed, OSError) as exc:
                log.debug("vpcd link closed: %r", exc)
            finally:
                with self._lock:
                    self._sock = None
                sock.close()
            if removed:
                # out of the field long enough for pcscd's presence poll to notice, then back
                self._stopping.wait(self._removal_time)
            elif not self._stopping.is_set():
                self._stopping.wait(_RECONNECT_INTERVAL)

    def _serve(self, sock: socket.socket, app: CardApplication) -> bool:
        """Answer vpcd until the link drops; True when the application signalled removal."""
        atr = contactless_atr(app.historical_bytes)
        while True:
            size = int.from_bytes(_recv_exact(sock, 2), "big")
            payload = _recv_exact(sock, size) if size else b""
            if size == 1:
                code = payload[0]
                if code == CTRL_ATR:
                    sock.sendall(len(atr).to_bytes(2, "big") + atr)
                elif code in (CTRL_POWER_ON, CTRL_RESET):
                    app.reset()
                elif code == CTRL_POWER_OFF:
                    pass
                else:
                    log.debug("vpcd: unknown control code %d", code)
                continue
            try:
                response = app.process(payload)
            except CardRemoved:
                self.removals += 1
                log.debug("card removed mid-APDU: dropping the link without an answer")
                return True
            sock.sendall(len(response).to_bytes(2, "big") + response)
