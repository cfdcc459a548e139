"""Choose a reader from a short spec string (for the CLI and configuration), list attached readers, and
explain reader failures in plain words.

Specs:

=======================  ==========================================================================
``sim`` / ``sim:SEED``   the in-process chip simulator with a test-kit card (default seed 0)
``nfc``                  the first nfcpy-supported USB reader (``nfc:usb``)
``nfc:usb:054c:06c3``    an nfcpy device path after ``nfc:`` (``usb:…``, ``tty:…``, ``udp:host:port``)
``pcsc``                 the first PC/SC reader with a card in it (else the first PC/SC reader)
``pcsc:NAME``            the PC/SC reader whose name contains NAME (case-insensitive)
=======================  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from netid.card.reader import CardReader
from netid.errors import (
    CardTimeoutError,
    NoCardError,
    NoReaderError,
    ReaderError,
    TagLostError,
    UsageError,
)

SPEC_HELP = "sim, sim:SEED, nfc, nfc:usb[:VID:PID], nfc:udp:HOST:PORT, pcsc, pcsc:NAME"


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    """One reader :func:`list_readers` found: ``kind`` (sim/nfc/pcsc), display ``name``, and the ``spec``
    that opens it with :func:`open_reader`."""

    kind: str
    name: str
    spec: str


def open_reader(spec: str) -> CardReader:
    """The reader named by ``spec`` (see the module docstring). Nothing is opened until ``connect()``."""
    kind, _, rest = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "sim":
        return _simulator(rest)
    if kind == "nfc":
        from netid.card.readers.nfc import NfcReader  # noqa: PLC0415 - optional dependency, imported on use

        return NfcReader(rest or "usb")
    if kind == "pcsc":
        from netid.card.readers.pcsc import PcscReader  # noqa: PLC0415 - optional dependency, imported on use

        return PcscReader(rest or None)
    raise UsageError(f"unknown reader {spec!r}; use one of: {SPEC_HELP}")


def _simulator(seed_text: str) -> CardReader:
    try:
        seed = int(seed_text) if seed_text else 0
    except ValueError:
        raise UsageError(f"sim:SEED needs a number, got {seed_text!r}") from None
    from netid.card.simulator import SimulatedCard, SimulatorReader  # noqa: PLC0415 - optional dependency, imported on use
    from netid.card.testkit import make_card  # noqa: PLC0415 - optional dependency, imported on use

    card = make_card(seed)
    return SimulatorReader(SimulatedCard(card.image), name=f"NetID simulator (test card {seed})")


def list_readers(*, probe_usb: bool = True) -> list[ReaderInfo]:
    """Readers usable now: the simulator, every PC/SC reader, and the first nfcpy USB reader.

    ``probe_usb`` opens (and closes again) the first nfcpy-supported USB device to find it; a reader busy
    in another program is then simply not listed.
    """
    found = [ReaderInfo("sim", "NetID simulator (test card)", "sim")]
    try:
        from netid.card.readers.pcsc import list_pcsc_readers  # noqa: PLC0415 - optional dependency, imported on use

        found += [ReaderInfo("pcsc", name, f"pcsc:{name}") for name in list_pcsc_readers()]
    except ReaderError:  # pyscard missing: no PC/SC readers to list
        pass
    if probe_usb:
        found += _nfc_usb_readers()
    return found


def _nfc_usb_readers() -> list[ReaderInfo]:
    try:
        import nfc  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError:
        return []
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
