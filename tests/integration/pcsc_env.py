"""A private pcscd for the test session: real pcsc-lite + vsmartcard's vpcd driver, touching nothing of
the machine's own PC/SC setup.

- Own reader configuration: ``pcscd -c FILE`` reads one reader.conf file (no /etc/reader.conf.d edits).
- Own socket: pcscd 1.9 always serves ``/run/pcscd/pcscd.comm`` (only the *client* library honours
  ``PCSCLITE_CSOCK_NAME``), so pcscd runs in a private mount namespace where a temp folder is bind-mounted
  on ``/run``; clients in this process reach it through ``PCSCLITE_CSOCK_NAME=<tmp>/pcscd/pcscd.comm``,
  which must be set before the first PC/SC call of the process (libpcsclite caches it).
- Own network: vpcd listens for its virtual card on *every* interface (see netid.testing.servers.vpcd for why
  the listening mode is used), so pcscd also gets a private network namespace with only a loopback
  interface; :meth:`PrivatePcscd.connector` opens card sockets inside that namespace. Nothing is exposed
  on the machine's network and the fixed vpcd port cannot clash with anything.

Needs root (or CAP_SYS_ADMIN) for the namespaces, ``unshare`` (util-linux), ``pcscd`` and the vpcd
driver. Independent of netid: only the standard library and pyscard.
"""

from __future__ import annotations

import ctypes
import fcntl
import glob
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

VPCD_PORT = 0x8C7B
FRIENDLY_NAME = "NetID vpcd"
#: pcsc-lite names a reader.conf reader "<FRIENDLYNAME> <reader index> <slot index>"
READER_NAME = f"{FRIENDLY_NAME} 00 00"

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


class PcscEnvUnavailable(RuntimeError):  # noqa: N818 - control-flow signal, not an error
    """This machine cannot run a private pcscd (missing packages or privileges)."""


def vpcd_driver_path() -> str:
    candidates = sorted(glob.glob("/usr/lib/pcsc/drivers/serial/libifdvpcd.so*"))
    candidates += sorted(glob.glob("/usr/lib/*/pcsc/drivers/serial/libifdvpcd.so*"))
    if not candidates:
        raise PcscEnvUnavailable("the vpcd driver is missing: apt-get install vsmartcard-vpcd")
    return candidates[0]


def requirements_missing() -> str | None:
    """Why a private pcscd cannot run here, or None."""
    for tool in ("pcscd", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    try:
        vpcd_driver_path()
    except PcscEnvUnavailable as exc:
        return str(exc)
    if os.geteuid() != 0:
        return "a private pcscd needs root (mount and network namespaces)"
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        return "pyscard not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "true"], capture_output=True, text=True, timeout=10, check=False
    )
    if probe.returncode != 0:  # e.g. an unprivileged container: root without CAP_SYS_ADMIN
        return f"cannot create mount/network namespaces here: {probe.stderr.strip()}"
    return None


def _in_netns(ns_path: str, work: Callable[[], object]) -> object:
    """Run ``work`` in a short-lived thread that has joined the network namespace at ``ns_path``
    (network namespaces are per thread on Linux; sockets keep the namespace they were created in)."""
    libc = ctypes.CDLL(None, use_errno=True)
    box: dict[str, object] = {}

    def runner() -> None:
        try:
            fd = os.open(ns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns: {os.strerror(err)}")
            finally:
                os.close(fd)
            box["result"] = work()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=runner, name="netns-helper")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result")


def _bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


class PrivatePcscd:
    """One pcscd with one vpcd reader (two slots: ``READER_NAME`` on ``port``, the next on ``port+1``)."""

    def __init__(self, workdir: Path, *, port: int = VPCD_PORT) -> None:
        self.workdir = workdir
        self.port = port
        self.run_dir = workdir / "run"
        self.socket_path = self.run_dir / "pcscd" / "pcscd.comm"
        self.conf_path = workdir / "reader.conf"
        self.log_path = workdir / "pcscd.log"
        self.reader_name = READER_NAME
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: object = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 15.0) -> None:
        why = requirements_missing()
        if why:
            raise PcscEnvUnavailable(why)
        env_sock = os.environ.get("PCSCLITE_CSOCK_NAME")
        if env_sock != str(self.socket_path):
            raise PcscEnvUnavailable(
                f"PCSCLITE_CSOCK_NAME must be {self.socket_path} before the first PC/SC call (is {env_sock})"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(
            f'FRIENDLYNAME "{FRIENDLY_NAME}"\n'
            f"DEVICENAME /dev/null:0x{self.port:04X}\n"
            f"LIBPATH {vpcd_driver_path()}\n"
            f"CHANNELID 0x{self.port:04X}\n"
        )
        script = f'mount --bind "{self.run_dir}" /run && exec pcscd --foreground -c "{self.conf_path}"'
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log = log
        self._proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._wait_ready(timeout)
            _in_netns(self._netns_path(), _bring_loopback_up)
        except BaseException:
            self.stop()
            raise

    def _netns_path(self) -> str:
        assert self._proc is not None
        return f"/proc/{self._proc.pid}/ns/net"

    def _wait_ready(self, timeout: float) -> None:
        from smartcard import scard

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise PcscEnvUnavailable(f"pcscd exited ({self._proc.returncode}): {self.log_tail()}")
            if self.socket_path.exists():
                hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if hr == scard.SCARD_S_SUCCESS:
                    try:
                        hr, readers = scard.SCardListReaders(ctx, [])
                        if hr == scard.SCARD_S_SUCCESS and self.reader_name in readers:
                            return
                    finally:
                        scard.SCardReleaseContext(ctx)
            time.sleep(0.05)  # no readiness signal from pcscd: poll with a deadline
        raise PcscEnvUnavailable(f"pcscd did not come up within {timeout}s: {self.log_tail()}")

    def connector(self, slot: int = 0) -> Callable[[], socket.socket]:
        """A ``connect`` callable for :class:`netid.testing.servers.vpcd.VpcdCard`: a socket to this pcscd's
        vpcd slot, created inside pcscd's private network namespace."""
        ns_path = self._netns_path()
        addr = ("127.0.0.1", self.port + slot)

        def connect() -> socket.socket:
            sock = _in_netns(ns_path, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            assert isinstance(sock, socket.socket)
            try:
                sock.settimeout(1.0)
                sock.connect(addr)
            except OSError:
                sock.close()
                raise
            return sock

        return connect

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None


def wait_reader_empty(reader_name: str, timeout: float = 5.0) -> None:
    """Wait until pcscd reports ``reader_name`` empty (a removal it has seen), up to ``timeout``."""
    from smartcard import scard

    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        return
    try:
        current = scard.SCARD_STATE_UNAWARE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ms = int((deadline - time.monotonic()) * 1000)
            hr, states = scard.SCardGetStatusChange(ctx, max(ms, 0), [(reader_name, current)])
            if hr != scard.SCARD_S_SUCCESS:
                return
            current = states[0][1] & ~scard.SCARD_STATE_CHANGED
            if current & scard.SCARD_STATE_EMPTY:
                return
    finally:
        scard.SCardReleaseContext(ctx)
