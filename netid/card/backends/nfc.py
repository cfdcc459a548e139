"""NFC readers driven by nfcpy (PN533, PN532, ACR122U, RC-S380, RC-S956 ... and its ``udp`` driver).

Only ISO-DEP cards (Type 4A and 4B, i.e. ISO 14443-4) are taken: an ID card chip is one. APDUs go out
raw through ``tag.transceive`` — nfcpy's ISO-DEP layer chains frames — so extended-length APDUs work
(``send_apdu`` is limited to short ones).

nfcpy failures map onto the NetID errors:

==================================================  ==========================================
nfcpy                                               NetID
==================================================  ==========================================
no device on the path (IOError on open)             :class:`~netid.errors.NoReaderError`
nothing activated within the wait                   :class:`~netid.errors.NoCardError`
ISO-DEP timeout/receive/protocol error, RF off      :class:`~netid.errors.TagLostError`
card asked for waiting time, then stayed silent     :class:`~netid.errors.CardTimeoutError`
device I/O error (unplugged, USB error)             :class:`~netid.errors.ReaderError`
==================================================  ==========================================

An ISO-DEP card that needs time asks for it (S(WTX)); one that goes silent through the reader's retries
has left the field, hence TagLostError. After a loss, ``reader.connect()`` runs a new activation.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from netid.card.interface import CardConnection, CardReader
from netid.errors import CardTimeoutError, NoCardError, NoReaderError, ReaderError, TagLostError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
#: ISO-DEP chains frames, so the link carries any extended APDU: 4 + 3 + 65535 + 2 command bytes
EXTENDED_APDU_MAX = 65544
_POLL_INTERVAL = 0.1  # between discovery rounds: nfcpy gives no "card arrived" signal to wait on
_INSTALL_HINT = "NFC support needs nfcpy: pip install 'netid[nfc]'"


def _nfc() -> Any:
    try:
        import nfc  # noqa: PLC0415 - optional dependency, imported on use
        import nfc.clf  # noqa: PLC0415 - optional dependency, imported on use
        import nfc.tag  # noqa: PLC0415 - optional dependency, imported on use
        import nfc.tag.tt4  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ReaderError(_INSTALL_HINT) from exc
    return nfc


class NfcConnection(CardConnection):
    """An activated ISO-DEP card on an nfcpy reader."""

    def __init__(self, reader: NfcReader, clf: Any, tag: Any, ats: bytes | None = None) -> None:
        self._reader = reader
        self._clf = clf
        self._tag: Any = tag
        self._ats = ats
        self._lost = False
        self.apdu_count = 0

    @property
    def tag_type(self) -> str:
        return str(type(self._tag).__name__)

    @property
    def identifier(self) -> bytes:
        """NFCID (UID / PUPI) the card used in anticollision (random per session on ID cards)."""
        return bytes(getattr(self._tag, "identifier", b""))

    @property
    def frame_size(self) -> int | None:
        """The negotiated maximum ISO-DEP frame size towards the card (FSC)."""
        dep = getattr(self._tag, "_dep", None)
        miu = getattr(dep, "miu", None)
        return int(miu) + 3 if miu is not None else None

    @property
    def ats(self) -> bytes | None:
        """The Type 4A card's answer to RATS (``None`` for Type 4B, which has no ATS)."""
        return self._ats

    @property
    def max_apdu_length(self) -> int:
        return EXTENDED_APDU_MAX

    def transceive(self, command: bytes) -> bytes:
        nfc = _nfc()
        if self._tag is None or self._lost:
            raise TagLostError("the card left the field; present it again and reconnect")
        self.apdu_count += 1
        try:
            response = self._tag.transceive(bytearray(command))
        except nfc.tag.TagCommandError as exc:
            self._lost = True
            reason = {
                nfc.tag.TIMEOUT_ERROR: "the card stopped answering",
                nfc.tag.RECEIVE_ERROR: "the card's answers were garbled",
                nfc.tag.PROTOCOL_ERROR: "the ISO-DEP link broke",
            }.get(exc.errno, f"ISO-DEP error {exc.errno}")
            raise TagLostError(f"{reason} — the card moved or left the field; hold it still") from exc
        except nfc.clf.BrokenLinkError as exc:
            self._lost = True
            raise TagLostError("the RF link broke — hold the card still") from exc
        except nfc.clf.TimeoutError as exc:
            # only reachable after the card asked for waiting time (S(WTX)) and then did not answer
            self._lost = True
            raise CardTimeoutError("the card asked for more time and still did not answer") from exc
        except nfc.clf.CommunicationError as exc:
            self._lost = True
            raise TagLostError(f"RF communication failed ({exc}) — hold the card still") from exc
        except OSError as exc:
            self._lost = True
            raise ReaderError(f"the NFC reader failed: {exc}") from exc
        if response is None or len(response) < 2:
            self._lost = True
            raise TagLostError("the card sent no status word — it left the field")
        return bytes(response)

    def disconnect(self) -> None:
        """Switch the RF field off (the card resets). Idempotent."""
        if self._tag is None:
            return
        self._tag = None
        self._reader._release()


def _activate(nfc: Any, clf: Any, target: Any) -> tuple[Any, bytes | None]:
    """nfcpy's tag activation, keeping the ATS it receives for a Type 4A card (nfcpy reads FSC and FWT
    from it and drops it; the historical bytes matter to the read driver)."""
    seen: list[bytes] = []
    exchange = clf.exchange

    def recording_exchange(data: Any, timeout: float) -> Any:
        response = exchange(data, timeout)
        if data is not None and bytes(data[:1]) == b"\xe0" and response is not None and not seen:
            seen.append(bytes(response))  # RATS -> ATS
        return response

    clf.exchange = recording_exchange
    try:
        tag = nfc.tag.activate(clf, target)
    finally:
        del clf.exchange  # back to the class's method
    return tag, (seen[0] if seen else None)


class NfcReader(CardReader):
    """An nfcpy device: ``usb`` (first supported USB reader), ``usb:054c:06c3``, ``tty:USB0:pn532``,
    ``udp:127.0.0.1:54321`` ... (see ``nfc.ContactlessFrontend.open``)."""

    def __init__(self, path: str = "usb", *, targets: tuple[str, ...] = ("106A", "106B")) -> None:
        self.path = path
        self.name = f"nfc:{path}"
        self._targets = targets
        self._clf: Any = None

    def _frontend(self) -> Any:
        if self._clf is None:
            nfc = _nfc()
            clf = nfc.ContactlessFrontend()
            try:
                opened = clf.open(self.path)
            except OSError as exc:  # found but not usable: permissions, busy, kernel driver attached
                raise NoReaderError(
                    f"cannot open the NFC reader at {self.path!r}: {exc}. "
                    "Check permissions and that the kernel's pn533 driver is not holding it "
                    "(python -m nfc explains)"
                ) from exc
            if not opened:
                raise NoReaderError(f"no NFC reader found at {self.path!r} (python -m nfc lists them)")
            self._clf = clf
            self.name = f"nfc:{self.path} ({clf.device})" if clf.device is not None else self.name
        return self._clf

    def connect(self, timeout: float | None = None) -> NfcConnection:
        nfc = _nfc()
        clf = self._frontend()
        wait = DEFAULT_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            targets = [nfc.clf.RemoteTarget(brty) for brty in self._targets]
            try:
                found = clf.sense(*targets, iterations=1)
                tag, ats = _activate(nfc, clf, found) if found is not None else (None, None)
            except OSError as exc:
                self.close()
                raise ReaderError(f"the NFC reader failed: {exc}") from exc
            if tag is not None:
                if isinstance(tag, nfc.tag.tt4.Type4Tag):
                    return NfcConnection(self, clf, tag, ats)
                log.debug("ignoring %s: not an ISO-DEP card", tag)
            if time.monotonic() >= deadline:
                raise NoCardError(f"no ID card (ISO-DEP) presented to {self.name} within {wait:g} s")
            time.sleep(_POLL_INTERVAL)

    def _release(self) -> None:
        clf = self._clf
        if clf is not None and clf.device is not None:
            with clf.lock:
                clf.device.mute()

    def close(self) -> None:
        clf, self._clf = self._clf, None
        if clf is not None:
            clf.close()


def open_nfc_reader(path: str) -> NfcReader:
    """The :func:`~netid.card.backends.registry.open_reader` factory for ``nfc[:PATH]``."""
    return NfcReader(path or "usb")
