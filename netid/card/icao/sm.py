"""Secure messaging (ICAO 9303-11 §9.8): encrypt-then-MAC wrapping of APDUs, both sides.

One :class:`SecureMessaging` object holds one session: the two session keys and the send sequence counter
(SSC). Every wrap/unwrap increments the SSC, so the terminal's and the chip's objects stay in lock step
as long as every command gets exactly one response. BAC sessions use 3DES-CBC (IV zero) and the ISO/IEC
9797-1 MAC algorithm 3 ("retail MAC") with an 8-byte SSC; PACE AES sessions use AES-CBC with
``IV = E(KS_enc, SSC)`` and AES-CMAC truncated to 8 bytes with a 16-byte SSC.

Data objects: ``87`` (padding-content indicator ``01`` + cryptogram; ``85`` for odd INS, no indicator),
``97`` (Le), ``99`` (status word), ``8E`` (MAC). Every method that takes bytes from the peer raises only
:class:`~netid.errors.SecureMessagingError` (or :class:`~netid.errors.ParseError` for an undecodable APDU).
"""

from __future__ import annotations

import hmac
from typing import Literal

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from netid.card import tlv
from netid.card.apdu import EXTENDED_NE_MAX, SHORT_NE_MAX, CommandAPDU, ResponseAPDU
from netid.errors import ParseError, SecureMessagingError, UsageError

SmCipher = Literal["3DES", "AES128"]

MAC_LENGTH = 8
_TAG_CRYPTOGRAM = 0x87
_TAG_CRYPTOGRAM_ODD = 0x85
_TAG_LE = 0x97
_TAG_SW = 0x99
_TAG_MAC = 0x8E


class SmDataMissingError(SecureMessagingError):
    """A command that must be protected carried no (or incomplete) SM data objects (chip answers 6987)."""


class SmDataIncorrectError(SecureMessagingError):
    """An SM data object was wrong: bad MAC, bad padding, bad cryptogram (chip answers 6988)."""


# --- primitives --------------------------------------------------------------------------------------


def pad(data: bytes, block: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2: ``80`` then zeros up to a whole block."""
    return data + b"\x80" + b"\x00" * ((block - (len(data) + 1) % block) % block)


def unpad(data: bytes, block: int) -> bytes:
    """Remove method-2 padding (at most ``block - 1`` zeros after ``80``); :class:`SmDataIncorrectError` if
    it is not there."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= block:
        raise SmDataIncorrectError("bad padding in the SM cryptogram")
    return stripped[:-1]


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with DES (``key`` = K1||K2); ``data`` must already be padded."""
    if len(key) != 16 or len(data) % 8 or not data:
        raise UsageError("retail MAC needs a 16-byte key and whole 8-byte blocks")
    k1, k2 = key[:8], key[8:]
    iv = b"\x00" * 8
    if len(data) > 8:
        # single-DES CBC-MAC over all but the last block (an 8-byte TripleDES key is single DES)
        enc = Cipher(TripleDES(k1 * 3), modes.CBC(iv)).encryptor()
        iv = (enc.update(data[:-8]) + enc.finalize())[-8:]
    # the last block goes through E_K1(D_K2(E_K1(.))) — exactly two-key 3DES
    enc = Cipher(TripleDES(k1 + k2 + k1), modes.CBC(iv)).encryptor()
    return enc.update(data[-8:]) + enc.finalize()


def tdes_cbc(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    """Two-key 3DES-CBC with a zero IV (BAC and BAC secure messaging)."""
    if len(key) != 16:
        raise UsageError("3DES keys are 16 bytes (K1||K2)")
    # spelled out as K1||K2||K1: cryptography deprecates the implicit two-key form
    cipher = Cipher(TripleDES(key + key[:8]), modes.CBC(b"\x00" * 8))
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def aes_cbc(key: bytes, iv: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def aes_cmac(key: bytes, data: bytes) -> bytes:
    c = cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()


def _encode_le(ne: int, extended: bool) -> bytes:
    if extended:
        return (ne % EXTENDED_NE_MAX).to_bytes(2, "big")
    return bytes((ne % SHORT_NE_MAX,))


def _decode_le(value: bytes) -> int:
    if len(value) == 1:
        return value[0] or SHORT_NE_MAX
    if len(value) == 2:
        return int.from_bytes(value, "big") or EXTENDED_NE_MAX
    raise SmDataIncorrectError("DO'97' must hold 1 or 2 bytes")


# --- the session -------------------------------------------------------------------------------------


class SecureMessaging:
    """One secure-messaging session (either side).

    The terminal calls :meth:`wrap_command` / :meth:`unwrap_response`; the chip calls
    :meth:`unwrap_command` / :meth:`wrap_response`. An object is used by one side only.
    """

    def __init__(self, ks_enc: bytes, ks_mac: bytes, ssc: int, cipher: SmCipher) -> None:
        if cipher not in ("3DES", "AES128") or len(ks_enc) != 16 or len(ks_mac) != 16:
            raise UsageError("secure messaging needs 16-byte keys and cipher 3DES or AES128")
        self.cipher: SmCipher = cipher
        self._ks_enc = ks_enc
        self._ks_mac = ks_mac
        self._block = 8 if cipher == "3DES" else 16
        self._ssc = ssc % (1 << (8 * self._block))
        self._last_ins_odd = False

    @classmethod
    def for_bac(cls, ks_enc: bytes, ks_mac: bytes, ssc: bytes) -> SecureMessaging:
        return cls(ks_enc, ks_mac, int.from_bytes(ssc, "big"), "3DES")

    @classmethod
    def for_pace(cls, ks_enc: bytes, ks_mac: bytes) -> SecureMessaging:
        """PACE with AES: the SSC starts at zero (ICAO 9303-11 §9.8.6.3)."""
        return cls(ks_enc, ks_mac, 0, "AES128")

    @property
    def ssc(self) -> bytes:
        return self._ssc.to_bytes(self._block, "big")

    # -- primitives bound to the session keys ----------------------------------------------------

    def _next_ssc(self) -> None:
        self._ssc = (self._ssc + 1) % (1 << (8 * self._block))

    def _mac(self, data: bytes) -> bytes:
        message = pad(self.ssc + data, self._block)
        if self.cipher == "3DES":
            return retail_mac(self._ks_mac, message)
        return aes_cmac(self._ks_mac, message)[:MAC_LENGTH]

    def _check_mac(self, data: bytes, mac: bytes) -> None:
        if not hmac.compare_digest(self._mac(data), mac):
            raise SmDataIncorrectError("secure messaging MAC mismatch")

    def _encrypt(self, plain: bytes) -> bytes:
        padded = pad(plain, self._block)
        if self.cipher == "3DES":
            return tdes_cbc(self._ks_enc, padded)
        return aes_cbc(self._ks_enc, self._aes_iv(), padded)

    def _decrypt(self, cryptogram: bytes) -> bytes:
        if not cryptogram or len(cryptogram) % self._block:
            raise SmDataIncorrectError("cryptogram is not whole cipher blocks")
        if self.cipher == "3DES":
            plain = tdes_cbc(self._ks_enc, cryptogram, decrypt=True)
        else:
            plain = aes_cbc(self._ks_enc, self._aes_iv(), cryptogram, decrypt=True)
        return unpad(plain, self._block)

    def _aes_iv(self) -> bytes:
        enc = Cipher(algorithms.AES(self._ks_enc), modes.ECB()).encryptor()  # noqa: S305 - one block: IV = E(KS_enc, SSC)
        return enc.update(self.ssc) + enc.finalize()

    def _cryptogram_do(self, plain: bytes, odd_ins: bool) -> bytes:
        if not plain:
            return b""
        if odd_ins:
            return tlv.encode(_TAG_CRYPTOGRAM_ODD, self._encrypt(plain))
        return tlv.encode(_TAG_CRYPTOGRAM, b"\x01" + self._encrypt(plain))

    def _open_cryptogram(self, do: tlv.Tlv) -> bytes:
        if do.tag == _TAG_CRYPTOGRAM:
            if not do.value or do.value[0] != 0x01:
                raise SmDataIncorrectError("DO'87' lacks padding-content indicator 01")
            return self._decrypt(do.value[1:])
        return self._decrypt(do.value)

    # -- terminal side ---------------------------------------------------------------------------

    def wrap_command(self, command: CommandAPDU) -> CommandAPDU:
        """Protect a plain command. Extended length is used when the plain command needs it."""
        if command.cla & 0x0C:
            raise UsageError("command is already secure-messaging protected")
        extended = command.needs_extended
        odd = bool(command.ins & 1)
        cla = command.cla | 0x0C
        self._next_ssc()
        header = pad(bytes((cla, command.ins, command.p1, command.p2)), self._block)
        body = self._cryptogram_do(command.data, odd)
        if command.ne is not None:
            body += tlv.encode(_TAG_LE, _encode_le(command.ne, extended))
        mac = self._mac(header + body)
        data = body + tlv.encode(_TAG_MAC, mac)
        extended = extended or len(data) > 255
        return CommandAPDU(
            cla, command.ins, command.p1, command.p2, data, EXTENDED_NE_MAX if extended else SHORT_NE_MAX
        )

    def unwrap_response(self, raw: bytes) -> ResponseAPDU:
        """Check and decrypt a protected response.

        A bare error status (no data) is returned as is: chips answer SM failures (6987/6988) in plain,
        and an unauthenticated *error* cannot make the terminal accept data. A bare 9000 is refused.
        """
        response = ResponseAPDU.from_bytes(raw)
        if not response.data:
            if response.ok:
                raise SmDataMissingError("unprotected success status under secure messaging")
            # no SSC step: a chip answering in plain has aborted the session (ICAO 9303-11 §9.8.6)
            return response
        try:
            objects = tlv.decode_all(response.data)
        except ParseError as exc:
            raise SmDataIncorrectError(f"malformed SM response: {exc.reason}") from None
        cryptogram: tlv.Tlv | None = None
        sw_do: tlv.Tlv | None = None
        mac_do: tlv.Tlv | None = None
        for do in objects:
            if do.tag in (_TAG_CRYPTOGRAM, _TAG_CRYPTOGRAM_ODD) and cryptogram is None and sw_do is None:
                cryptogram = do
            elif do.tag == _TAG_SW and sw_do is None and mac_do is None:
                sw_do = do
            elif do.tag == _TAG_MAC and mac_do is None:
                mac_do = do
            else:
                raise SmDataIncorrectError(f"unexpected or repeated DO {do.tag:X} in SM response")
        if mac_do is None or sw_do is None:
            raise SmDataMissingError("SM response lacks DO'99' or DO'8E'")
        if objects[-1] is not mac_do or len(sw_do.value) != 2 or len(mac_do.value) != MAC_LENGTH:
            raise SmDataIncorrectError("malformed DO'99'/DO'8E' in SM response")
        self._next_ssc()
        covered = (cryptogram.to_bytes() if cryptogram else b"") + sw_do.to_bytes()
        self._check_mac(covered, mac_do.value)
        data = self._open_cryptogram(cryptogram) if cryptogram is not None else b""
        return ResponseAPDU(data, sw_do.value[0], sw_do.value[1])

    # -- chip side -------------------------------------------------------------------------------

    def unwrap_command(self, raw: bytes | CommandAPDU) -> CommandAPDU:
        """Check and decrypt a protected command; returns the plain command (CLA without SM bits)."""
        command = raw if isinstance(raw, CommandAPDU) else CommandAPDU.from_bytes(raw)
        if command.cla & 0x0C != 0x0C:
            raise SmDataMissingError("command is not secure-messaging protected")
        try:
            objects = tlv.decode_all(command.data)
        except ParseError as exc:
            raise SmDataIncorrectError(f"malformed SM command: {exc.reason}") from None
        cryptogram: tlv.Tlv | None = None
        le_do: tlv.Tlv | None = None
        mac_do: tlv.Tlv | None = None
        for do in objects:
            if do.tag in (_TAG_CRYPTOGRAM, _TAG_CRYPTOGRAM_ODD) and cryptogram is None and le_do is None:
                cryptogram = do
            elif do.tag == _TAG_LE and le_do is None and mac_do is None:
                le_do = do
            elif do.tag == _TAG_MAC and mac_do is None:
                mac_do = do
            else:
                raise SmDataIncorrectError(f"unexpected or repeated DO {do.tag:X} in SM command")
        if mac_do is None:
            raise SmDataMissingError("SM command lacks DO'8E'")
        if objects[-1] is not mac_do or len(mac_do.value) != MAC_LENGTH:
            raise SmDataIncorrectError("malformed DO'8E' in SM command")
        odd = bool(command.ins & 1)
        if cryptogram is not None and (cryptogram.tag == _TAG_CRYPTOGRAM_ODD) != odd:
            raise SmDataIncorrectError("DO'85' must be used exactly for odd INS")
        self._next_ssc()
        header = pad(bytes((command.cla, command.ins, command.p1, command.p2)), self._block)
        body = (cryptogram.to_bytes() if cryptogram else b"") + (le_do.to_bytes() if le_do else b"")
        self._check_mac(header + body, mac_do.value)
        data = self._open_cryptogram(cryptogram) if cryptogram is not None else b""
        ne = _decode_le(le_do.value) if le_do is not None else None
        self._last_ins_odd = odd
        return CommandAPDU(command.cla & ~0x0C & 0xFF, command.ins, command.p1, command.p2, data, ne)

    def wrap_response(self, response: ResponseAPDU) -> bytes:
        """Protect the chip's answer to the command last unwrapped."""
        self._next_ssc()
        body = self._cryptogram_do(response.data, self._last_ins_odd)
        body += tlv.encode(_TAG_SW, bytes((response.sw1, response.sw2)))
        return body + tlv.encode(_TAG_MAC, self._mac(body)) + bytes((response.sw1, response.sw2))
