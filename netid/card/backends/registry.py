"""Choose a reader from a short spec string (for the CLI and configuration), list attached readers, and
explain reader failures in plain words.

Specs:

=======================  ==========================================================================
``sim`` / ``sim:SEED``   the in-process chip simulator with a test-kit card (default seed 0)
``sim:SEED:FAULT``       TEST ONLY: ``tampered-dgN`` (one byte of DGN changed), ``cloned`` (other AA key)
``nfc``                  the first nfcpy-supported USB reader (``nfc:usb``)
``nfc:usb:054c:06c3``    an nfcpy device path after ``nfc:`` (``usb:…``, ``tty:…``, ``udp:host:port``)
``pcsc``                 the first PC/SC reader with a card in it (else the first PC/SC reader)
``pcsc:NAME``            the PC/SC reader whose name contains NAME (case-insensitive)
=======================  ==========================================================================
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from netid.card.interface import CardReader
from netid.errors import (
    CardTimeoutError,
    MissingBackendError,
    NoCardError,
    NoReaderError,
    ReaderError,
    TagLostError,
    UsageError,
)

SPEC_HELP = "sim, sim:SEED, nfc, nfc:usb[:VID:PID], nfc:udp:HOST:PORT, pcsc, pcsc:NAME"


#: ``(argument after "kind:") -> CardReader``
ReaderFactory = Callable[[str], CardReader]


@dataclass(frozen=True, slots=True)
class Backend:
    """One kind of reader :func:`open_reader` can open.

    ``factory`` is ``"module:function"`` and is imported only when a reader of this kind is opened, so
    an optional dependency (nfcpy, pyscard) or the test kit's card data costs nothing until it is used.
    ``requires`` is the top-level module that must be importable and ``install`` the command that
    provides it.
    """

    kind: str
    description: str
    factory: str
    requires: str | None = None
    install: str | None = None

    def available(self) -> bool:
        """Whether the backend's optional dependency is installed (nothing is imported to find out)."""
        return self.requires is None or importlib.util.find_spec(self.requires) is not None

    def load(self) -> ReaderFactory:
        module, _, function = self.factory.partition(":")
        if not self.available():
            raise MissingBackendError(self.kind, self.install)
        factory: ReaderFactory = getattr(importlib.import_module(module), function)
        return factory


_BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> None:
    """Make ``backend.kind`` openable by :func:`open_reader` (replacing a backend of that kind)."""
    if not backend.kind.isalnum() or backend.kind != backend.kind.lower():
        raise UsageError("a backend kind is lower-case letters and digits")
    _BACKENDS[backend.kind] = backend


def backends() -> tuple[Backend, ...]:
    """Every registered backend, installed or not (see :meth:`Backend.available`)."""
    return tuple(_BACKENDS.values())


register_backend(
    Backend(
        "sim",
        "in-process chip simulator with a TEST card from netid.testing "
        "(sim:SEED; faults sim:SEED:tampered-dgN, sim:SEED:cloned)",
        "netid.testing.cards:open_simulator_reader",
    )
)
register_backend(
    Backend(
        "nfc",
        "USB NFC readers driven by nfcpy (PN533, PN532, ACR122U, RC-S380); nfc:udp:HOST:PORT for tests",
        "netid.card.backends.nfc:open_nfc_reader",
        requires="nfc",
        install="pip install 'netid[nfc]'",
    )
)
register_backend(
    Backend(
        "pcsc",
        "PC/SC readers through pyscard (pcscd on Linux); pcsc:NAME picks one by name",
        "netid.card.backends.pcsc:open_pcsc_reader",
        requires="smartcard",
        install="pip install 'netid[pcsc]'",
    )
)


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    """One reader :func:`list_readers` found: ``kind`` (sim/nfc/pcsc), display ``name``, and the ``spec``
    that opens it with :func:`open_reader`."""

    kind: str
    name: str
    spec: str


def open_reader(spec: str) -> CardReader:
    """The reader named by ``spec`` (see the module docstring). Nothing is opened until ``connect()``.

    Raises :class:`UsageError` for an unknown kind or a malformed argument, :class:`MissingBackendError`
    (a :class:`ReaderError`) when the backend's package is not installed (it names the install command).
    """
    if not isinstance(spec, str):
        raise UsageError("a reader spec is a string")
    kind, _, rest = spec.strip().partition(":")
    backend = _BACKENDS.get(kind.lower())
    if backend is None:
        raise UsageError(f"unknown reader {spec!r}; use one of: {SPEC_HELP}")
    return backend.load()(rest)


def list_readers(*, probe_usb: bool = True) -> list[ReaderInfo]:
    """Readers usable now: the simulator, every PC/SC reader, and the first nfcpy USB reader.

    ``probe_usb`` opens (and closes again) the first nfcpy-supported USB device to find it; a reader busy
    in another program is then simply not listed.
    """
    found = [ReaderInfo("sim", "NetID simulator (test card)", "sim")]
    if _BACKENDS["pcsc"].available():
        from netid.card.backends.pcsc import list_pcsc_readers  # noqa: PLC0415 - optional dependency

        found += [ReaderInfo("pcsc", name, f"pcsc:{name}") for name in list_pcsc_readers()]
    if probe_usb and _BACKENDS["nfc"].available():
        found += _nfc_usb_readers()
    return found


def _nfc_usb_readers() -> list[ReaderInfo]:
    import nfc  # noqa: PLC0415 - optional dependency, imported on use

    clf = nfc.ContactlessFrontend()
    try:
        if not clf.open("usb"):
            return []
        return [ReaderInfo("nfc", str(clf.device), "nfc:usb")]
    except OSError:  # present but unusable (permissions, kernel driver): describe via open_reader
        return []
    finally:
        clf.close()


def describe_reader_error(exc: BaseException) -> str:
    """A plain-English sentence for a reader failure, fit to show to the person holding the card."""
    detail = str(exc).strip()
    if isinstance(exc, MissingBackendError):
        install = f": {exc.install}" if exc.install else ""
        return f"Missing package for the {exc.kind} reader backend{install}"
    if isinstance(exc, NoReaderError):
        return (
            "No card reader found. Plug in a supported reader (see docs/hardware.md); for a PC/SC "
            f"reader make sure the pcscd service is running. ({detail})"
        )
    if isinstance(exc, NoCardError):
        return "No ID card found. Place the card flat on the reader and try again."
    if isinstance(exc, TagLostError):
        return (
            "The card moved away from the reader while it was being read. Hold it still, flat on the "
            "reader, until reading has finished."
        )
    if isinstance(exc, CardTimeoutError):
        return (
            "The card stopped answering in time. Hold it still, flat on the reader, and try again; "
            "if it keeps happening, try another reader position."
        )
    if isinstance(exc, ReaderError):
        return f"The card reader reported a problem: {detail}"
    return detail or type(exc).__name__
