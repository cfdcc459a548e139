"""The one I/O driver for eMRTD chips: access control, secure messaging and file reading over a
:class:`~netid.card.interface.CardConnection`.

Everything here that is protocol logic lives in the sans-I/O modules (:mod:`.bac`, :mod:`.pace`,
:mod:`.sm`); this module only moves their bytes and decides what to read:

1. read EF.CardAccess in plain (absent → the chip offers BAC only);
2. run PACE when offered (the most preferred supported parameter set) else BAC;
3. select the eMRTD application, read EF.COM, then the requested files it lists (EF.SOD, DG14 and DG15
   always when requested: EF.COM is unsigned);
4. run active authentication when a challenge is given and DG15 was read.

**Extended length.** When ``prefer_extended`` is set, the ISO 7816-4 card-capabilities byte in the
historical bytes of the ATS decides if it is present; otherwise the first READ BINARY (of EF.CardAccess,
before any secure messaging exists that a refused APDU could desynchronise) is sent in extended form as a
probe. Only an answer with data (``9000``, or ``6282`` with data) shows that extended length works; on any
other status the driver stays with short APDUs, repeating the read short after a
``6700``/``6D00``/``6E00``/``6881`` refusal. ``6A82`` in particular proves nothing: a BAC-only chip without
EF.CardAccess may look the file up before it checks Lc/Le, and then refuse the first extended READ under
secure messaging with ``6700``; such a chip gets extended APDUs only when its ATS announces them. The
probe therefore costs nothing on chips that accept it and one APDU on those that refuse it.

**File reading.** Each file's first chunk is read with a short-file-identifier READ BINARY (which also
selects the file); the TLV header at its start gives the full length, and the rest is read in chunks: the
whole file in one extended APDU when possible, else 223-byte short reads (223 = 0xDF is the largest that
keeps an AES-wrapped answer within 256 bytes). Offsets above 32767 use the odd-INS READ BINARY (B1).

Errors: wrong MRZ/CAN → :class:`~netid.errors.AccessControlError`; anything malformed from the card →
:class:`~netid.errors.ParseError`, :class:`~netid.errors.SecureMessagingError` or
:class:`~netid.errors.CardStatusError`; a card leaving the field → :class:`~netid.errors.TagLostError`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from netid._typing import Rng
from netid.card import tlv
from netid.card.apdu import CommandAPDU, FileNotFound, ResponseAPDU, status_error
from netid.card.icao.access import AccessKey, CanAccessKey, MrzAccessKey
from netid.card.icao.bac import AccessResult, BacTerminal
from netid.card.icao.ec import PACE_CURVES
from netid.card.icao.lds import DG_TAGS, EMRTD_AID, FID_CARD_ACCESS, FID_COM, FID_DG, FID_SOD, SFI
from netid.card.icao.pace import SUPPORTED_PROTOCOLS, PaceTerminal, PasswordRef
from netid.card.icao.security_infos import parse_security_infos
from netid.card.icao.sm import SecureMessaging
from netid.card.interface import CardConnection, CardReader
from netid.errors import AccessControlError, ParseError, TagLostError, UsageError

DEFAULT_FILES: tuple[int, ...] = (FID_COM, FID_DG[1], FID_DG[2], FID_DG[11], FID_DG[14], FID_DG[15], FID_SOD)

#: PACE domain parameter ids in order of preference (both are 256-bit curves; brainpool is the eMRTD norm)
PACE_PREFERENCE: tuple[int, ...] = (13, 12)


SHORT_READ = 0xDF
#: no LDS1 file is larger; a longer length field is treated as garbage, not as a promise to read on
MAX_FILE_SIZE = 1 << 20
_EXTENDED_READ_MAX = 0xFF00
_SM_OVERHEAD = 48  # DO'87' header, padding, DO'99', DO'8E', SW: room kept below the link's APDU limit
_REFUSED_EXTENDED = frozenset({0x6700, 0x6D00, 0x6E00, 0x6881})

FILE_NAMES = {FID_CARD_ACCESS: "EF.CardAccess", FID_COM: "EF.COM", FID_SOD: "EF.SOD"} | {
    fid: f"DG{n}" for n, fid in FID_DG.items()
}


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """Progress report: ``step`` is one of ``card_access``, ``access_control``, ``read``,
    ``active_authentication``, ``done``; ``done``/``total`` count bytes of ``file`` (or steps)."""

    step: str
    file: str | None
    done: int
    total: int


def _file_sizes(files: Mapping[int, bytes]) -> str:
    return (
        "{"
        + ", ".join(f"{FILE_NAMES.get(fid, f'{fid:04X}')}: {len(data)}" for fid, data in files.items())
        + "}"
    )


@dataclass(frozen=True, repr=False)
class CardReadout:
    """Everything read from one chip. ``files`` maps file ids to exact bytes (EF.CardAccess included).

    ``repr`` shows file names and sizes only, never their contents (DG11 holds the personal number).
    """

    files: Mapping[int, bytes]
    access_protocol: Literal["PACE", "BAC"]
    pace_parameter_id: int | None
    extended_length: bool
    apdu_count: int
    aa_challenge: bytes | None
    aa_signature: bytes | None

    def __repr__(self) -> str:
        return (
            f"CardReadout(files={_file_sizes(self.files)}, access_protocol={self.access_protocol!r}, "
            f"pace_parameter_id={self.pace_parameter_id}, extended_length={self.extended_length}, "
            f"apdu_count={self.apdu_count}, active_authentication={self.aa_signature is not None})"
        )


@dataclass(repr=False)
class _ReadState:
    """What survives a reconnect in :func:`read_document_with_retry`: completely read files."""

    files: dict[int, bytes] = field(default_factory=dict)
    card_access_known: bool = False
    extended: bool | None = None
    apdu_count: int = 0

    def __repr__(self) -> str:
        return (
            f"_ReadState(files={_file_sizes(self.files)}, card_access_known={self.card_access_known}, "
            f"extended={self.extended}, apdu_count={self.apdu_count})"
        )


class _Channel:
    """The connection plus, once access control is done, the secure-messaging session."""

    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection
        self.sm: SecureMessaging | None = None

    def send(self, command: CommandAPDU, *, extended: bool | None = None) -> ResponseAPDU:
        if self.sm is None:
            raw = self.connection.transceive(command.to_bytes(extended=extended))
            return ResponseAPDU.from_bytes(raw)
        raw = self.connection.transceive(self.sm.wrap_command(command).to_bytes())
        # A plain error status under SM comes back as is; the session object stays: falling back to
        # plain commands would be a downgrade, and a chip that dropped the session answers 6987/6988.
        return self.sm.unwrap_response(raw)

    def run(self, protocol: BacTerminal | PaceTerminal) -> AccessResult:
        command: CommandAPDU | None = protocol.start()
        while command is not None:
            command = protocol.receive(self.send(command))
        return protocol.result


def _historical_bytes(ats: bytes) -> bytes | None:
    """The historical bytes of an ISO 14443-4 ATS, or of the pseudo-ATR a PC/SC reader builds from it.

    PC/SC part 3: a contactless card's ATR is ``3B 8n 80 01 <n historical bytes> TCK`` (T0 announcing TD1
    and n historical bytes, TD1 = T=0 with TD2, TD2 = T=1, then the check byte).
    """
    if len(ats) >= 2 and ats[0] == len(ats):  # ATS: TL counts itself
        return ats[2 + bin(ats[1] & 0x70).count("1") :]
    if len(ats) >= 5 and ats[0] == 0x3B and ats[1] & 0xF0 == 0x80 and ats[2:4] == b"\x80\x01":
        n = ats[1] & 0x0F
        tck = 0
        for byte in ats[1:]:
            tck ^= byte
        if len(ats) == 4 + n + 1 and tck == 0:
            return ats[4 : 4 + n]
    return None


def _ats_extended_capability(ats: bytes | None) -> bool | None:
    """Extended Lc/Le support from the card-capabilities object (tag 7) of the historical bytes of the
    ATS (or of a PC/SC contactless pseudo-ATR)."""
    hist = _historical_bytes(ats) if ats else None
    if not hist or hist[0] not in (0x00, 0x80):
        return None
    body = hist[1:-3] if hist[0] == 0x00 else hist[1:]
    i = 0
    while i < len(body):
        tag, length = body[i] >> 4, body[i] & 0x0F
        value = body[i + 1 : i + 1 + length]
        if len(value) != length:
            return None
        if tag == 0x7 and length >= 3:
            return bool(value[2] & 0x40)
        i += 1 + length
    return None


def _total_length(header: bytes) -> int:
    """Full file length from the first bytes of a BER-TLV file (tag, length field)."""
    if not header:
        raise ParseError("LDS file", "empty file")
    pos = 1
    if header[0] & 0x1F == 0x1F:
        while pos < len(header) and header[pos] & 0x80:
            pos += 1
        pos += 1
    if pos >= len(header):
        raise ParseError("LDS file", "file header truncated")
    first = header[pos]
    pos += 1
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 3 or pos + n > len(header):
            raise ParseError("LDS file", "unsupported or truncated length field")
        length = int.from_bytes(header[pos : pos + n], "big")
        pos += n
    total = pos + length
    if total > MAX_FILE_SIZE:
        raise ParseError("LDS file", "declared length is implausibly large")
    return total


def _check_read(response: ResponseAPDU) -> bytes:
    if response.ok or (response.sw == 0x6282 and response.data):
        return response.data
    raise status_error(response.sw)


class _Reader:
    def __init__(
        self,
        channel: _Channel,
        state: _ReadState,
        progress: Callable[[ReadProgress], None] | None,
    ) -> None:
        self.ch = channel
        self.state = state
        self.progress = progress
        self.extended = bool(state.extended)

    def report(self, step: str, file: str | None, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(ReadProgress(step, file, done, total))

    def chunk(self) -> int:
        if not self.extended:
            return SHORT_READ
        limit = self.ch.connection.max_apdu_length
        return min(_EXTENDED_READ_MAX, (limit or 0x10000) - _SM_OVERHEAD)

    def read_first(self, fid: int, *, probe: bool = False) -> bytes:
        """Read the first chunk of a file by short file identifier (which also selects it).

        Asking for a whole chunk rather than just the TLV header means a file that fits one chunk costs
        exactly one APDU, which is the protocol minimum.
        """
        command = CommandAPDU(0x00, 0xB0, 0x80 | SFI[fid], 0x00, ne=self.chunk())
        if probe:
            response = self.ch.send(command, extended=True)
            # only data proves the chip took the extended APDU: an error status (6A82 above all) may come
            # from a file lookup made before the length check, and says nothing about extended length
            accepted = response.ok or (response.sw == 0x6282 and bool(response.data))
            self.extended = self.state.extended = accepted
            if accepted or response.sw not in _REFUSED_EXTENDED:
                return self._first_data(response, command.ne or 0)
            command = CommandAPDU(0x00, 0xB0, 0x80 | SFI[fid], 0x00, ne=self.chunk())
        return self._first_data(self.ch.send(command), command.ne or 0)

    @staticmethod
    def _first_data(response: ResponseAPDU, asked: int) -> bytes:
        if response.sw == 0x6282 and not response.data:
            return b""
        data = _check_read(response)
        if len(data) > asked:
            raise ParseError("READ BINARY", "the card returned more bytes than asked for")
        return data

    def read_file(self, fid: int, *, probe: bool = False) -> bytes:
        name = FILE_NAMES.get(fid, f"{fid:04X}")
        first = self.read_first(fid, probe=probe)
        # the TLV header in the first chunk gives the file's full length (ParseError if it is cut short)
        total = _total_length(first)
        # the chip may give more than the TLV declares (padding): keep exactly the declared length
        buf = bytearray(first[:total])
        self.report("read", name, len(buf), total)
        while len(buf) < total:
            offset = len(buf)
            want = min(total - offset, self.chunk())
            data = self._read_at(offset, want)
            if not data:
                raise ParseError("READ BINARY", f"{name} ended before its declared length")
            if len(data) > want:
                raise ParseError("READ BINARY", "the card returned more bytes than asked for")
            buf += data
            self.report("read", name, len(buf), total)
        return bytes(buf)

    def _read_at(self, offset: int, want: int) -> bytes:
        if offset <= 0x7FFF:
            command = CommandAPDU(0x00, 0xB0, offset >> 8, offset & 0xFF, ne=want)
            return _check_read(self.ch.send(command))
        # offsets beyond 15 bits: READ BINARY with odd INS, offset in DO'54', answer in DO'53'
        offset_do = tlv.encode(0x54, offset.to_bytes(3, "big"))
        if not self.extended:  # DO'53' counts against the short Le: keep the wrapped answer in 256 bytes
            want = min(want, SHORT_READ - 3)
        overhead = 1 + len(tlv.encode_length(want))
        command = CommandAPDU(0x00, 0xB1, 0x00, 0x00, offset_do, ne=want + overhead)
        data = _check_read(self.ch.send(command))
        return tlv.decode_single(data, 0x53).value


def _choose_pace(card_access: bytes) -> tuple[str, int] | None:
    infos = parse_security_infos(card_access)
    offered = {
        p.parameter_id: p.protocol_oid
        for p in infos.pace
        if p.protocol_oid in SUPPORTED_PROTOCOLS and p.parameter_id in PACE_CURVES
    }
    for pid in PACE_PREFERENCE:
        if pid in offered:
            return offered[pid], pid
    return None


def _com_file_ids(com: bytes) -> set[int]:
    """File ids of the data groups listed in EF.COM (tag 60, tag list 5C)."""
    tag_list = tlv.decode_single(com, 0x60).child(0x5C).value
    return {FID_DG[DG_TAGS[t]] for t in tag_list if t in DG_TAGS}


def _read_once(
    connection: CardConnection,
    access_key: AccessKey,
    *,
    files: Sequence[int],
    aa_challenge: bytes | None,
    prefer_extended: bool,
    progress: Callable[[ReadProgress], None] | None,
    rng: Rng,
    state: _ReadState,
) -> CardReadout:
    if aa_challenge is not None and len(aa_challenge) != 8:
        raise UsageError("the active authentication challenge is 8 bytes")
    unknown = [f for f in files if f not in SFI]
    if unknown:
        raise UsageError(f"cannot read file ids {unknown}: not LDS1 eMRTD files")
    channel = _Channel(connection)
    if state.extended is None and prefer_extended:
        state.extended = _ats_extended_capability(connection.ats)
    elif not prefer_extended:
        state.extended = False
    reader = _Reader(channel, state, progress)

    # 1. EF.CardAccess, in plain, in the MF (selected after reset)
    reader.report("card_access", "EF.CardAccess", 0, 1)
    if not state.card_access_known:
        with contextlib.suppress(FileNotFound):
            state.files[FID_CARD_ACCESS] = reader.read_file(FID_CARD_ACCESS, probe=state.extended is None)
        state.card_access_known = True
        if state.extended is None:  # not reached: the probe always settles it; stay short to be safe
            state.extended = reader.extended = False
    reader.extended = bool(state.extended)

    # 2. access control
    card_access = state.files.get(FID_CARD_ACCESS)
    pace = _choose_pace(card_access) if card_access is not None else None
    reader.report("access_control", None, 0, 1)
    protocol: Literal["PACE", "BAC"]
    if pace is not None:
        oid, parameter_id = pace
        ref = PasswordRef.CAN if isinstance(access_key, CanAccessKey) else PasswordRef.MRZ
        terminal = PaceTerminal(access_key.password, ref, parameter_id, protocol_oid=oid, rng=rng)
        channel.sm = channel.run(terminal).sm
        _select_application(channel)
        protocol, pace_id = "PACE", parameter_id
    else:
        if not isinstance(access_key, MrzAccessKey):
            raise AccessControlError("this chip offers only BAC, which needs the MRZ data, not the CAN")
        _select_application(channel)
        channel.sm = channel.run(BacTerminal(access_key.mrz_information, rng=rng)).sm
        protocol, pace_id = "BAC", None
    reader.report("access_control", None, 1, 1)

    # 3. EF.COM, then what it lists
    if FID_COM not in state.files:
        state.files[FID_COM] = reader.read_file(FID_COM)
    # DG14 and DG15 are read whenever asked for, listed or not: EF.COM is not signed, and a clone that
    # drops DG15 from it must not escape active authentication (the SOD, which is signed, decides)
    present = _com_file_ids(state.files[FID_COM]) | {FID_COM, FID_SOD, FID_DG[14], FID_DG[15]}
    for fid in files:
        if fid in state.files or fid not in present:
            continue
        try:
            state.files[fid] = reader.read_file(fid)
        except FileNotFound:
            continue  # absent: passive authentication (and inspection, for DG15) reports what is missing

    # 4. active authentication
    signature: bytes | None = None
    if aa_challenge is not None and FID_DG[15] in state.files:
        reader.report("active_authentication", None, 0, 1)
        response = channel.send(CommandAPDU(0x00, 0x88, 0x00, 0x00, aa_challenge, ne=256))
        signature = response.check().data
        reader.report("active_authentication", None, 1, 1)
    reader.report("done", None, 1, 1)
    return CardReadout(
        files=MappingProxyType(dict(state.files)),
        access_protocol=protocol,
        pace_parameter_id=pace_id,
        extended_length=bool(state.extended),
        apdu_count=state.apdu_count + connection.apdu_count,
        aa_challenge=aa_challenge if signature is not None else None,
        aa_signature=signature,
    )


def _select_application(channel: _Channel) -> None:
    channel.send(CommandAPDU(0x00, 0xA4, 0x04, 0x0C, EMRTD_AID)).check()


def read_document(
    connection: CardConnection,
    access_key: AccessKey,
    *,
    files: Sequence[int] = DEFAULT_FILES,
    aa_challenge: bytes | None = None,
    prefer_extended: bool = True,
    progress: Callable[[ReadProgress], None] | None = None,
    rng: Rng = os.urandom,
) -> CardReadout:
    """Read an eMRTD chip over ``connection`` (freshly connected: the card must be in its reset state)."""
    return _read_once(
        connection,
        access_key,
        files=files,
        aa_challenge=aa_challenge,
        prefer_extended=prefer_extended,
        progress=progress,
        rng=rng,
        state=_ReadState(),
    )


def read_document_with_retry(
    reader: CardReader,
    access_key: AccessKey,
    *,
    retries: int = 1,
    connect_timeout: float | None = None,
    files: Sequence[int] = DEFAULT_FILES,
    aa_challenge: bytes | None = None,
    prefer_extended: bool = True,
    progress: Callable[[ReadProgress], None] | None = None,
    rng: Rng = os.urandom,
) -> CardReadout:
    """Like :func:`read_document` (same keyword arguments), connecting through ``reader`` and surviving
    ``retries`` tag losses.

    ``connect_timeout`` is how long each connect waits for a card (``None``: the reader's default).

    After a loss it reconnects, authenticates again and reads only the files not yet read completely.
    One more loss than allowed propagates :class:`~netid.errors.TagLostError`.
    """
    if retries < 0:
        raise UsageError("retries must be >= 0")
    state = _ReadState()
    attempt = 0
    while True:
        connection = reader.connect(connect_timeout)
        try:
            return _read_once(
                connection, access_key, state=state, files=files, aa_challenge=aa_challenge,
                prefer_extended=prefer_extended, progress=progress, rng=rng,
            )  # fmt: skip
        except TagLostError:
            state.apdu_count += connection.apdu_count
            attempt += 1
            if attempt > retries:
                raise
        finally:
            connection.disconnect()
