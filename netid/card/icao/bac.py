"""Basic Access Control (ICAO 9303-11 §4.3), terminal and chip side, without I/O.

Terminal: ``cmd = bac.start()``; then ``cmd = bac.receive(response)`` until it returns ``None``;
``bac.result`` holds the session. The chip side answers GET CHALLENGE and EXTERNAL AUTHENTICATE.
Randomness is injected (``rng(n) -> n bytes``) so the Appendix D worked example can be replayed.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from netid._typing import Rng
from netid.card.apdu import SW_AUTH_FAILED, SW_CONDITIONS, SW_WRONG_LENGTH, CommandAPDU, ResponseAPDU
from netid.card.icao.kdf import KdfCounter, bac_keys, kdf
from netid.card.icao.sm import SecureMessaging, pad, retail_mac, tdes_cbc
from netid.errors import AccessControlError, UsageError

INS_GET_CHALLENGE = 0x84
INS_EXTERNAL_AUTHENTICATE = 0x82


@dataclass(frozen=True, slots=True)
class AccessResult:
    """What a successful BAC or PACE run leaves: the session keys and the SM object for them.

    ``repr`` leaves out the keys and the session (no secrets in logs)."""

    protocol: str
    ks_enc: bytes = field(repr=False)
    ks_mac: bytes = field(repr=False)
    sm: SecureMessaging = field(repr=False)


def _session_from_seed(seed: bytes, rnd_ic: bytes, rnd_ifd: bytes) -> tuple[bytes, bytes, bytes]:
    ks_enc = kdf(seed, KdfCounter.ENC, "3DES")
    ks_mac = kdf(seed, KdfCounter.MAC, "3DES")
    return ks_enc, ks_mac, rnd_ic[4:] + rnd_ifd[4:]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class BacTerminal:
    """The inspection-system side of BAC."""

    def __init__(self, mrz_information: str, *, rng: Rng = os.urandom) -> None:
        self._k_enc, self._k_mac = bac_keys(mrz_information)
        self._rng = rng
        self._state = "init"
        self._rnd_ifd = b""
        self._k_ifd = b""
        self._rnd_ic = b""
        self._result: AccessResult | None = None

    @property
    def result(self) -> AccessResult:
        if self._result is None:
            raise UsageError("BAC has not completed")
        return self._result

    def start(self) -> CommandAPDU:
        if self._state != "init":
            raise UsageError("BAC already started")
        self._state = "challenge"
        return CommandAPDU(0x00, INS_GET_CHALLENGE, 0x00, 0x00, ne=8)

    def receive(self, response: ResponseAPDU) -> CommandAPDU | None:
        """Feed the chip's answer; returns the next command or ``None`` when BAC has finished."""
        if self._state == "challenge":
            if not response.ok or len(response.data) != 8:
                self._state = "failed"
                raise AccessControlError(f"BAC: GET CHALLENGE refused (status {response.sw:04X})")
            self._rnd_ic = response.data
            self._rnd_ifd = self._rng(8)
            self._k_ifd = self._rng(16)
            if len(self._rnd_ifd) != 8 or len(self._k_ifd) != 16:
                raise UsageError("rng returned the wrong number of bytes")
            e_ifd = tdes_cbc(self._k_enc, self._rnd_ifd + self._rnd_ic + self._k_ifd)
            m_ifd = retail_mac(self._k_mac, pad(e_ifd, 8))
            self._state = "authenticate"
            return CommandAPDU(0x00, INS_EXTERNAL_AUTHENTICATE, 0x00, 0x00, e_ifd + m_ifd, ne=40)
        if self._state == "authenticate":
            self._state = "failed"
            if response.sw == SW_AUTH_FAILED or (response.sw & 0xFFF0) == 0x63C0:
                raise AccessControlError(
                    "BAC failed: the chip rejected the key — check the document number, date of birth "
                    "and date of expiry"
                )
            if not response.ok or len(response.data) != 40:
                raise AccessControlError(f"BAC: EXTERNAL AUTHENTICATE refused (status {response.sw:04X})")
            e_ic, m_ic = response.data[:32], response.data[32:]
            if not hmac.compare_digest(retail_mac(self._k_mac, pad(e_ic, 8)), m_ic):
                raise AccessControlError("BAC: the chip's authentication cryptogram has a bad MAC")
            plain = tdes_cbc(self._k_enc, e_ic, decrypt=True)
            if not hmac.compare_digest(plain[:8], self._rnd_ic) or not hmac.compare_digest(
                plain[8:16], self._rnd_ifd
            ):
                raise AccessControlError("BAC: the chip did not return our challenge")
            seed = _xor(self._k_ifd, plain[16:32])
            ks_enc, ks_mac, ssc = _session_from_seed(seed, self._rnd_ic, self._rnd_ifd)
            self._result = AccessResult("BAC", ks_enc, ks_mac, SecureMessaging.for_bac(ks_enc, ks_mac, ssc))
            self._state = "done"
            return None
        raise UsageError(f"BAC terminal cannot receive in state {self._state!r}")


class BacChip:
    """The chip side of BAC: remembers the last challenge and checks EXTERNAL AUTHENTICATE."""

    def __init__(self, mrz_information: str, *, rng: Rng = os.urandom) -> None:
        self._k_enc, self._k_mac = bac_keys(mrz_information)
        self._rng = rng
        self._rnd_ic: bytes | None = None
        self.result: AccessResult | None = None

    def get_challenge(self, command: CommandAPDU) -> ResponseAPDU:
        if command.ne != 8 or command.data:
            return ResponseAPDU.status(SW_WRONG_LENGTH)
        self._rnd_ic = self._rng(8)
        return ResponseAPDU(self._rnd_ic, 0x90, 0x00)

    def external_authenticate(self, command: CommandAPDU) -> ResponseAPDU:
        rnd_ic, self._rnd_ic = self._rnd_ic, None  # a challenge is good for one attempt only
        if rnd_ic is None:
            return ResponseAPDU.status(SW_CONDITIONS)
        if len(command.data) != 40:
            return ResponseAPDU.status(SW_WRONG_LENGTH)
        e_ifd, m_ifd = command.data[:32], command.data[32:]
        if not hmac.compare_digest(retail_mac(self._k_mac, pad(e_ifd, 8)), m_ifd):
            return ResponseAPDU.status(SW_AUTH_FAILED)
        plain = tdes_cbc(self._k_enc, e_ifd, decrypt=True)
        rnd_ifd, k_ifd = plain[:8], plain[16:32]
        if not hmac.compare_digest(plain[8:16], rnd_ic):
            return ResponseAPDU.status(SW_AUTH_FAILED)
        k_ic = self._rng(16)
        e_ic = tdes_cbc(self._k_enc, rnd_ic + rnd_ifd + k_ic)
        m_ic = retail_mac(self._k_mac, pad(e_ic, 8))
        ks_enc, ks_mac, ssc = _session_from_seed(_xor(k_ifd, k_ic), rnd_ic, rnd_ifd)
        self.result = AccessResult("BAC", ks_enc, ks_mac, SecureMessaging.for_bac(ks_enc, ks_mac, ssc))
        return ResponseAPDU(e_ic + m_ic, 0x90, 0x00)
