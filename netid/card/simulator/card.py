"""A software eMRTD chip: the LDS1 application of ICAO 9303 over a :class:`ChipImage`.

It answers APDUs the way real chips do, so the reader code meets the same status words, access rules
and secure messaging it would meet on plastic. Behaviour choices where chips differ (documented so tests
can rely on them):

* READ BINARY with Le larger than what is left returns what is left with ``9000`` (most eMRTD chips do;
  ISO 7816-4's ``6282`` is only used when the read starts exactly at the end of the file and nothing is
  left). An offset beyond the end answers ``6B00``.
* Short reads (Le <= 256) return at most ``image.max_read_length`` bytes (real chips cap them so that the
  SM-wrapped answer fits 256 bytes); extended reads return up to Le.
* An extended-length APDU to a chip without extended length support answers ``6700`` in plain, before
  any secure messaging processing (the transport layer refuses it; the session survives).
* The class byte is decoded before secure messaging, since only the first interindustry class
  (``0x0X``/``0x1X``, ISO 7816-4 §5.4.1) says where its SM bits are: the invalid class ``FF``, proprietary
  classes (``8X``-``FE``), the further interindustry classes (``4X``-``7X``) and the RFU ones (``2X``,
  ``3X``) answer ``6E00`` in plain, and a secure-messaging session survives them (nothing was executed).
* After secure messaging is established every command must be protected: a plain command answers
  ``6987``, a bad MAC or cryptogram ``6988``, and in both cases the session is dropped (the chip is back
  to "no access control"), as ICAO 9303-11 §9.8.6 requires.
* Before access control only the MF, the eMRTD application and EF.CardAccess can be selected and only
  EF.CardAccess read; everything else answers ``6982``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from netid._typing import Rng
from netid.card import tlv
from netid.card.apdu import (
    SW_CHAINING_UNSUPPORTED,
    SW_CLA_UNSUPPORTED,
    SW_CONDITIONS,
    SW_END_OF_FILE,
    SW_FILE_NOT_FOUND,
    SW_INS_UNSUPPORTED,
    SW_NO_CURRENT_EF,
    SW_OFFSET_OUTSIDE,
    SW_REF_NOT_FOUND,
    SW_SECURITY_STATUS,
    SW_SM_INCORRECT,
    SW_SM_MISSING,
    SW_SUCCESS,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
    CommandAPDU,
    ResponseAPDU,
)
from netid.card.icao.aa import ECDSA_HASHES, sign_challenge
from netid.card.icao.bac import BacChip
from netid.card.icao.lds import EMRTD_AID, FID_CARD_ACCESS, FID_DG, SFI
from netid.card.icao.pace import SUPPORTED_PROTOCOLS, PaceChip, PasswordRef
from netid.card.icao.security_infos import parse_security_infos
from netid.card.icao.sm import SecureMessaging, SmDataMissingError
from netid.card.interface import CardRemoved
from netid.card.simulator.image import ChipImage
from netid.errors import ParseError, SecureMessagingError

_MF = "MF"
_APP = "eMRTD"
_EXTENDED_READ_MAX = 0xFFFF  # no chip buffers more than this
#: class bits b8-b6: zero only in the first interindustry class, the one whose SM and chaining bits we read
_CLA_NOT_FIRST_INTERINDUSTRY = 0xE0


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault injection for a :class:`SimulatedCard`.

    ``tag_lost_after``: the card answers that many APDUs, then leaves the field on the next one (once;
    after a reset it works again). ``delay_seconds``: how long the chip takes per APDU (applied by
    :class:`~netid.card.simulator.SimulatorConnection`).
    """

    tag_lost_after: int | None = None
    delay_seconds: float = 0.0


def _status(sw: int) -> ResponseAPDU:
    return ResponseAPDU.status(sw)


def _is_extended(raw: bytes) -> bool:
    return len(raw) > 5 and raw[4] == 0


class SimulatedCard:
    """A :class:`~netid.card.interface.CardApplication` running the eMRTD application over ``image``."""

    def __init__(self, image: ChipImage, *, faults: Faults | None = None, rng: Rng | None = None) -> None:
        self.image = image
        self.faults = faults or Faults()
        self.historical_bytes = image.historical_bytes
        self._rng: Rng = rng or os.urandom
        self._commands_seen = 0
        self._tag_lost_fired = False
        self._pace_parameter_ids = self._offered_pace_parameters()
        self._aa_hash = self._aa_hash_from_dg14()
        self.reset()

    # -- static facts from the image ---------------------------------------------------------------

    def _offered_pace_parameters(self) -> tuple[int, ...]:
        raw = self.image.files.get(FID_CARD_ACCESS)
        if raw is None:
            return ()
        try:
            infos = parse_security_infos(raw)
        except ParseError:
            return ()  # a chip with a broken EF.CardAccess still serves it, but runs no PACE
        return tuple(
            p.parameter_id
            for p in infos.pace
            if p.protocol_oid in SUPPORTED_PROTOCOLS and p.parameter_id is not None
        )

    def _aa_hash_from_dg14(self) -> hashes.HashAlgorithm | None:
        raw = self.image.files.get(FID_DG[14])
        if raw is None:
            return None
        try:
            infos = parse_security_infos(tlv.decode_single(raw, 0x6E).value)
        except ParseError:
            return None
        if infos.active_authentication is None:
            return None
        return ECDSA_HASHES.get(infos.active_authentication.signature_algorithm_oid)

    # -- CardApplication ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Power cycle: no session, MF selected, no current EF."""
        self._df = _MF
        self._ef: int | None = None
        self._sm: SecureMessaging | None = None
        self._bac = BacChip(self.image.mrz_information, rng=self._rng) if self.image.bac_enabled else None
        self._challenge_only: bytes | None = None
        self._pace: PaceChip | None = None
        if self._pace_parameter_ids:
            passwords = {PasswordRef.MRZ: self.image.mrz_information.encode("ascii")}
            if self.image.can is not None:
                passwords[PasswordRef.CAN] = self.image.can.encode("ascii")
            self._pace = PaceChip(passwords, self._pace_parameter_ids, rng=self._rng)

    @property
    def session_active(self) -> bool:
        return self._sm is not None

    def process(self, command: bytes) -> bytes:
        self._commands_seen += 1
        lost_after = self.faults.tag_lost_after
        if lost_after is not None and not self._tag_lost_fired and self._commands_seen > lost_after:
            self._tag_lost_fired = True
            self.reset()
            raise CardRemoved
        raw = bytes(command)
        try:
            cmd = CommandAPDU.from_bytes(raw)
        except ParseError:
            return _status(SW_WRONG_LENGTH).to_bytes()
        if _is_extended(raw) and not self.image.extended_length:
            return _status(SW_WRONG_LENGTH).to_bytes()
        if cmd.cla & _CLA_NOT_FIRST_INTERINDUSTRY:
            return _status(SW_CLA_UNSUPPORTED).to_bytes()
        sm = self._sm
        if sm is None:
            if cmd.cla & 0x0C:
                return _status(SW_SM_INCORRECT).to_bytes()
            return self._dispatch(cmd, protected=False).to_bytes()
        if cmd.cla & 0x0C != 0x0C:
            self._drop_session()
            return _status(SW_SM_MISSING).to_bytes()
        try:
            inner = sm.unwrap_command(cmd)
        except SmDataMissingError:
            self._drop_session()
            return _status(SW_SM_MISSING).to_bytes()
        except SecureMessagingError:
            self._drop_session()
            return _status(SW_SM_INCORRECT).to_bytes()
        response = self._dispatch(inner, protected=True)
        if self._sm is not sm:  # the command ended or replaced the session
            return response.to_bytes()
        return sm.wrap_response(response)

    def _drop_session(self) -> None:
        self._sm = None
        self._ef = None

    # -- commands ----------------------------------------------------------------------------------

    def _dispatch(self, cmd: CommandAPDU, *, protected: bool) -> ResponseAPDU:
        if cmd.cla & ~0x10 & 0xFF:
            return _status(SW_CLA_UNSUPPORTED)
        if cmd.cla & 0x10 and cmd.ins != 0x86:
            return _status(SW_CHAINING_UNSUPPORTED)
        handler = {
            0xA4: self._select,
            0xB0: self._read_binary,
            0xB1: self._read_binary_odd,
            0x84: self._get_challenge,
            0x82: self._external_authenticate,
            0x22: self._mse,
            0x86: self._general_authenticate,
            0x88: self._internal_authenticate,
        }.get(cmd.ins)
        if handler is None:
            return _status(SW_INS_UNSUPPORTED)
        return handler(cmd, protected)

    def _file_in_current_df(self, fid: int) -> bytes | None:
        if (fid == FID_CARD_ACCESS) != (self._df == _MF):
            return None
        return self.image.files.get(fid)

    def _may_access(self, fid: int) -> bool:
        return fid == FID_CARD_ACCESS or self._sm is not None

    def _select(self, cmd: CommandAPDU, protected: bool) -> ResponseAPDU:
        if cmd.p2 not in (0x00, 0x0C):
            return _status(SW_WRONG_P1P2)
        if cmd.p1 == 0x00 and cmd.data in (b"", b"\x3f\x00"):
            self._df, self._ef = _MF, None
            return _status(SW_SUCCESS)
        if cmd.p1 == 0x04:
            if cmd.data != EMRTD_AID:
                return _status(SW_FILE_NOT_FOUND)
            self._df, self._ef = _APP, None
            if cmd.p2 == 0x00:
                return ResponseAPDU(tlv.encode(0x6F, tlv.encode(0x84, EMRTD_AID)), 0x90, 0x00)
            return _status(SW_SUCCESS)
        if cmd.p1 in (0x00, 0x02):
            if len(cmd.data) != 2:
                return _status(SW_WRONG_LENGTH)
            fid = int.from_bytes(cmd.data, "big")
            content = self._file_in_current_df(fid)
            if content is None:
                return _status(SW_FILE_NOT_FOUND)
            if not self._may_access(fid):
                return _status(SW_SECURITY_STATUS)
            self._ef = fid
            if cmd.p2 == 0x00:
                fcp = tlv.encode(
                    0x62,
                    [
                        tlv.encode(0x80, len(content).to_bytes(2, "big")),
                        tlv.encode(0x82, b"\x01"),
                        tlv.encode(0x83, cmd.data),
                    ],
                )
                return ResponseAPDU(fcp, 0x90, 0x00)
            return _status(SW_SUCCESS)
        return _status(SW_WRONG_P1P2)

    def _resolve_sfi(self, sfi: int) -> int | ResponseAPDU:
        fid = next((f for f, s in SFI.items() if s == sfi), None)
        if fid is None or self._file_in_current_df(fid) is None:
            return _status(SW_FILE_NOT_FOUND)
        if not self._may_access(fid):
            return _status(SW_SECURITY_STATUS)
        return fid

    def _read_binary(self, cmd: CommandAPDU, protected: bool) -> ResponseAPDU:
        if cmd.data or cmd.ne is None:
            return _status(SW_WRONG_LENGTH)
        if cmd.p1 & 0x80:
            if cmd.p1 & 0x60:
                return _status(SW_WRONG_P1P2)
            resolved = self._resolve_sfi(cmd.p1 & 0x1F)
            if isinstance(resolved, ResponseAPDU):
                return resolved
            self._ef = resolved
            offset = cmd.p2
        else:
            if self._ef is None:
                return _status(SW_NO_CURRENT_EF)
            offset = (cmd.p1 << 8) | cmd.p2
        content = self.image.files[self._ef]
        return self._read(content, offset, cmd.ne, wrap_53=False)

    def _read_binary_odd(self, cmd: CommandAPDU, protected: bool) -> ResponseAPDU:
        if cmd.ne is None:
            return _status(SW_WRONG_LENGTH)
        if (cmd.p1, cmd.p2) != (0, 0):
            fid = (cmd.p1 << 8) | cmd.p2
            if self._file_in_current_df(fid) is None:
                return _status(SW_FILE_NOT_FOUND)
            if not self._may_access(fid):
                return _status(SW_SECURITY_STATUS)
            self._ef = fid
        if self._ef is None:
            return _status(SW_NO_CURRENT_EF)
        try:
            do54 = tlv.decode_single(cmd.data, 0x54)
        except ParseError:
            return _status(SW_WRONG_LENGTH)
        if not 1 <= len(do54.value) <= 3:
            return _status(SW_WRONG_LENGTH)
        offset = int.from_bytes(do54.value, "big")
        return self._read(self.image.files[self._ef], offset, cmd.ne, wrap_53=True)

    def _read(self, content: bytes, offset: int, ne: int, *, wrap_53: bool) -> ResponseAPDU:
        if offset > len(content):
            return _status(SW_OFFSET_OUTSIDE)
        available = len(content) - offset
        if available == 0:
            return _status(SW_END_OF_FILE)
        cap = self.image.max_read_length if ne <= 256 else _EXTENDED_READ_MAX
        budget = min(ne, cap)
        if wrap_53:  # the 53 header counts against Le
            budget -= 1 + len(tlv.encode_length(budget))
            if budget <= 0:
                return _status(SW_WRONG_LENGTH)
        chunk = content[offset : offset + min(available, budget)]
        return ResponseAPDU(tlv.encode(0x53, chunk) if wrap_53 else chunk, 0x90, 0x00)

    def _get_challenge(self, cmd: CommandAPDU, protected: bool) -> ResponseAPDU:
        if self._bac is not None and not protected:
            return self._bac.get_challenge(cmd)
        if cmd.ne != 8 or cmd.data:
            return _status(SW_WRONG_LENGTH)
        return ResponseAPDU(self._rng(8), 0x90, 0x00)

    def _external_authenticate(self, cmd: CommandAPDU, protected: bool) -> ResponseAPDU:
        if self._bac is None:
            return _status(SW_INS_UNSUPPORTED)
        if protected:
            return _status(SW_CONDITIONS)
        response = self._bac.external_authenticate(cmd)
        if response.ok and self._bac.result is not None:
            self._sm = self._bac.result.sm
            self._bac.result = None
        return response

    def _mse(self, cmd: CommandAPDU, protected: bool) -> ResponseAPDU:
        if (cmd.p1, cmd.p2) != (0xC1, 0xA4):
            return _status(SW_WRONG_P1P2)
        if self._pace is None:
            return _status(SW_REF_NOT_FOUND)
        if protected:
            return _status(SW_CONDITIONS)
        return self._pace.set_at(cmd)

    def _general_authenticate(self, cmd: CommandAPDU, protected: bool) -> ResponseAPDU:
        if self._pace is None or protected:
            return _status(SW_CONDITIONS)
        if (cmd.p1, cmd.p2) != (0, 0):
            return _status(SW_WRONG_P1P2)
        response = self._pace.general_authenticate(cmd)
        if response.ok and self._pace.result is not None:
            self._sm = self._pace.result.sm
            self._pace.result = None
            self._ef = None
        return response

    def _internal_authenticate(self, cmd: CommandAPDU, protected: bool) -> ResponseAPDU:
        if self.image.aa_private_key is None:
            return _status(SW_INS_UNSUPPORTED)
        if not protected:
            return _status(SW_SECURITY_STATUS)
        if (cmd.p1, cmd.p2) != (0, 0):
            return _status(SW_WRONG_P1P2)
        if len(cmd.data) != 8 or cmd.ne is None:
            return _status(SW_WRONG_LENGTH)
        key = self.image.aa_private_key
        # DG14's ActiveAuthenticationInfo names the ECDSA hash; RSA chips name theirs in the trailer
        hash_algorithm = self._aa_hash if isinstance(key, ec.EllipticCurvePrivateKey) else None
        signature = sign_challenge(key, cmd.data, hash_algorithm=hash_algorithm, rng=self._rng)
        return ResponseAPDU(signature, 0x90, 0x00)
