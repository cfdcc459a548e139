"""PACE with ECDH generic mapping and AES-128 (ICAO 9303-11 §4.4), terminal and chip side, without I/O.

Protocol id-PACE-ECDH-GM-AES-CBC-CMAC-128 on standardized domain parameters 12 (NIST P-256) and 13
(brainpoolP256r1), passwords MRZ and CAN:

1. MSE:Set AT selects protocol, password and parameters;
2. GENERAL AUTHENTICATE (GA) #1: the chip sends ``z = E(K_pi, s)``;
3. GA #2: mapping keys are exchanged, ``H = SK_map * PK_map_peer``, ``G~ = s*G + H``;
4. GA #3: ephemeral keys on ``G~`` are exchanged, ``K = x(SK * PK_peer)`` gives the session keys;
5. GA #4: authentication tokens ``T = CMAC(KS_mac, 7F49{06 OID, 86 PK_peer})[:8]`` are exchanged.

GA #1-#3 use command chaining (CLA 10). The terminal API matches :mod:`netid.card.icao.bac`:
``start()`` then ``receive(response)`` until ``None``; randomness comes from ``rng``.

The point arithmetic of steps 3 and 4 is in :mod:`netid.card.icao.ec` (on ``fastecdsa``); every point the
peer sends goes through ``Curve.decode_point`` first, which refuses anything that is not a point of the
curve. ``tests/card/test_pace.py`` replays the ICAO 9303-11 Appendix G.1 worked example on both sides.
"""

from __future__ import annotations

import hmac
import os
from enum import IntEnum

from netid._typing import Rng
from netid.card import tlv
from netid.card.apdu import (
    SW_AUTH_FAILED,
    SW_CONDITIONS,
    SW_REF_NOT_FOUND,
    SW_SUCCESS,
    SW_WRONG_DATA,
    CommandAPDU,
    ResponseAPDU,
)
from netid.card.icao.bac import AccessResult
from netid.card.icao.ec import PACE_CURVES, Curve, Point
from netid.card.icao.kdf import KdfCounter, kdf, pace_password_key
from netid.card.icao.security_infos import ID_PACE_ECDH_GM_AES_CBC_CMAC_128, encode_oid
from netid.card.icao.sm import SecureMessaging, aes_cbc, aes_cmac
from netid.errors import AccessControlError, ParseError, UsageError

INS_MSE = 0x22
INS_GENERAL_AUTHENTICATE = 0x86
MSE_SET_AT_PACE = (0xC1, 0xA4)


class PasswordRef(IntEnum):
    """Password references of MSE:Set AT (ICAO 9303-11 §9.5.1 / BSI TR-03110)."""

    MRZ = 1
    CAN = 2


SUPPORTED_PROTOCOLS = (ID_PACE_ECDH_GM_AES_CBC_CMAC_128,)


def _random_scalar(rng: Rng, curve: Curve) -> int:
    """A uniform scalar in [1, n-1] by rejection: injected test keys come back unchanged."""
    for _ in range(64):
        k = int.from_bytes(rng(curve.size), "big")
        if 1 <= k < curve.n:
            return k
    raise UsageError("rng keeps returning out-of-range scalars")


def _public_key_do(oid: str, point: bytes) -> bytes:
    return tlv.encode(0x7F49, [tlv.encode(0x06, encode_oid(oid)), tlv.encode(0x86, point)])


def auth_token(ks_mac: bytes, oid: str, peer_point: bytes) -> bytes:
    """The 8-byte authentication token over the peer's ephemeral public key (§4.4.3.4)."""
    return aes_cmac(ks_mac, _public_key_do(oid, peer_point))[:8]


def _dynamic_auth_data(data: bytes, expected_tag: int) -> bytes:
    """Unwrap ``7C { tag value }`` from a GA response; ParseError on anything else."""
    outer = tlv.decode_single(data, 0x7C)
    inner = outer.children()
    if len(inner) != 1 or inner[0].tag != expected_tag:
        raise ParseError("PACE", f"expected data object {expected_tag:X} in dynamic authentication data")
    return inner[0].value


def _ga(data: bytes, *, last: bool) -> CommandAPDU:
    cla = 0x00 if last else 0x10  # GA #1-#3 are chained (CLA 10), the last one closes the chain
    return CommandAPDU(cla, INS_GENERAL_AUTHENTICATE, 0x00, 0x00, tlv.encode(0x7C, data), 256)


def _shared_x(curve: Curve, private: int, peer: tuple[int, int]) -> bytes:
    point = curve.mul(private, peer)
    if point is None:
        raise AccessControlError("PACE: shared point is the point at infinity")
    return point[0].to_bytes(curve.size, "big")


class PaceTerminal:
    """The terminal side of PACE-ECDH-GM-AES-128."""

    def __init__(
        self,
        password: bytes,
        password_ref: PasswordRef,
        parameter_id: int,
        *,
        protocol_oid: str = ID_PACE_ECDH_GM_AES_CBC_CMAC_128,
        rng: Rng = os.urandom,
    ) -> None:
        if protocol_oid not in SUPPORTED_PROTOCOLS:
            raise UsageError(f"unsupported PACE protocol {protocol_oid}")
        if parameter_id not in PACE_CURVES:
            raise UsageError(f"unsupported PACE domain parameters {parameter_id}")
        self._curve = PACE_CURVES[parameter_id]
        self._oid = protocol_oid
        self._ref = PasswordRef(password_ref)
        self._parameter_id = parameter_id
        self._k_pi = pace_password_key(password, is_mrz=self._ref == PasswordRef.MRZ)
        self._rng = rng
        self._state = "init"
        self._s = 0
        self._map_sk = 0
        self._eph_sk = 0
        self._g_tilde: Point = None
        self._eph_pk = b""
        self._chip_eph_pk = b""
        self._ks_enc = b""
        self._ks_mac = b""
        self._result: AccessResult | None = None

    @property
    def result(self) -> AccessResult:
        if self._result is None:
            raise UsageError("PACE has not completed")
        return self._result

    def start(self) -> CommandAPDU:
        if self._state != "init":
            raise UsageError("PACE already started")
        self._state = "mse"
        data = (
            tlv.encode(0x80, encode_oid(self._oid))
            + tlv.encode(0x83, bytes((self._ref,)))
            + tlv.encode(0x84, bytes((self._parameter_id,)))
        )
        return CommandAPDU(0x00, INS_MSE, *MSE_SET_AT_PACE, data)

    def receive(self, response: ResponseAPDU) -> CommandAPDU | None:
        """Feed the chip's answer; returns the next command or ``None`` when PACE has finished."""
        state, self._state = self._state, "failed"  # any exception leaves the machine failed
        if not response.ok:
            if state == "token" and (response.sw == SW_AUTH_FAILED or (response.sw & 0xFFF0) == 0x63C0):
                raise AccessControlError(
                    "PACE failed: the chip rejected the authentication token — the MRZ data or CAN is "
                    "probably wrong"
                )
            raise AccessControlError(f"PACE: the chip refused step {state!r} (status {response.sw:04X})")
        curve = self._curve
        try:
            if state == "mse":
                self._state = "nonce"
                return _ga(b"", last=False)
            if state == "nonce":
                z = _dynamic_auth_data(response.data, 0x80)
                if len(z) != 16:
                    raise ParseError("PACE", "encrypted nonce must be 16 bytes")
                self._s = int.from_bytes(aes_cbc(self._k_pi, b"\x00" * 16, z, decrypt=True), "big")
                self._map_sk = _random_scalar(self._rng, curve)
                self._state = "map"
                return _ga(tlv.encode(0x81, curve.encode_point(curve.mul(self._map_sk, curve.g))), last=False)
            if state == "map":
                chip_map = curve.decode_point(_dynamic_auth_data(response.data, 0x82))
                h = curve.mul(self._map_sk, chip_map)
                if h is None:
                    raise AccessControlError("PACE: mapping produced the point at infinity")
                self._g_tilde = curve.add(curve.mul(self._s, curve.g), h)
                if self._g_tilde is None:
                    raise AccessControlError("PACE: mapped generator is the point at infinity")
                self._eph_sk = _random_scalar(self._rng, curve)
                self._eph_pk = curve.encode_point(curve.mul(self._eph_sk, self._g_tilde))
                self._state = "key"
                return _ga(tlv.encode(0x83, self._eph_pk), last=False)
            if state == "key":
                self._chip_eph_pk = _dynamic_auth_data(response.data, 0x84)
                chip_eph = curve.decode_point(self._chip_eph_pk)
                if hmac.compare_digest(self._chip_eph_pk, self._eph_pk):
                    raise AccessControlError("PACE: the chip echoed our ephemeral key")
                shared = _shared_x(curve, self._eph_sk, chip_eph)
                self._ks_enc = kdf(shared, KdfCounter.ENC, "AES128")
                self._ks_mac = kdf(shared, KdfCounter.MAC, "AES128")
                token = auth_token(self._ks_mac, self._oid, self._chip_eph_pk)
                self._state = "token"
                return _ga(tlv.encode(0x85, token), last=True)
            if state == "token":
                t_ic = _dynamic_auth_data(response.data, 0x86)
                expected = auth_token(self._ks_mac, self._oid, self._eph_pk)
                if not hmac.compare_digest(t_ic, expected):
                    raise AccessControlError("PACE: the chip's authentication token does not match")
                self._result = AccessResult(
                    "PACE", self._ks_enc, self._ks_mac, SecureMessaging.for_pace(self._ks_enc, self._ks_mac)
                )
                self._state = "done"
                return None
        except ParseError as exc:
            raise AccessControlError(f"PACE: malformed chip answer ({exc})") from exc
        raise UsageError(f"PACE terminal cannot receive in state {state!r}")


class PaceChip:
    """The chip side of PACE: answers MSE:Set AT and the GENERAL AUTHENTICATE chain.

    ``passwords`` maps the password references the chip accepts to their secrets; ``parameter_ids`` are
    the domain parameters it offers in EF.CardAccess. After success ``result`` holds the session.
    """

    def __init__(
        self,
        passwords: dict[PasswordRef, bytes],
        parameter_ids: tuple[int, ...],
        *,
        rng: Rng = os.urandom,
    ) -> None:
        self._passwords = passwords
        self._parameter_ids = parameter_ids
        self._rng = rng
        self.result: AccessResult | None = None
        self._reset()

    def _reset(self) -> None:
        self._state = "idle"
        self._curve: Curve | None = None
        self._oid = ""
        self._k_pi = b""
        self._s = 0
        self._map_sk = 0
        self._eph_sk = 0
        self._g_tilde: Point = None
        self._eph_pk = b""
        self._terminal_eph_pk = b""
        self._ks_enc = b""
        self._ks_mac = b""

    def _fail(self, sw: int) -> ResponseAPDU:
        self._reset()
        return ResponseAPDU.status(sw)

    def set_at(self, command: CommandAPDU) -> ResponseAPDU:
        """MSE:Set AT (P1P2 = C1A4)."""
        self._reset()
        self.result = None
        try:
            fields = {item.tag: item.value for item in tlv.decode_all(command.data)}
        except ParseError:
            return self._fail(SW_WRONG_DATA)
        oid_raw, ref_raw, param_raw = fields.get(0x80), fields.get(0x83), fields.get(0x84)
        if oid_raw is None or ref_raw is None or len(ref_raw) != 1:
            return self._fail(SW_WRONG_DATA)
        oid = next((o for o in SUPPORTED_PROTOCOLS if encode_oid(o) == oid_raw), None)
        if oid is None:
            return self._fail(SW_REF_NOT_FOUND)
        if ref_raw[0] not in {int(r) for r in PasswordRef} or PasswordRef(ref_raw[0]) not in self._passwords:
            return self._fail(SW_REF_NOT_FOUND)
        if param_raw is None:
            if len(self._parameter_ids) != 1:
                return self._fail(SW_REF_NOT_FOUND)
            param = self._parameter_ids[0]
        elif len(param_raw) != 1 or param_raw[0] not in self._parameter_ids:
            return self._fail(SW_REF_NOT_FOUND)
        else:
            param = param_raw[0]
        if param not in PACE_CURVES:
            return self._fail(SW_REF_NOT_FOUND)
        ref = PasswordRef(ref_raw[0])
        self._curve = PACE_CURVES[param]
        self._oid = oid
        self._k_pi = pace_password_key(self._passwords[ref], is_mrz=ref == PasswordRef.MRZ)
        self._state = "nonce"
        return ResponseAPDU.status(SW_SUCCESS)

    def general_authenticate(self, command: CommandAPDU) -> ResponseAPDU:
        """One step of the GA chain; out-of-order or wrongly chained steps answer 6985."""
        curve = self._curve
        expected_cla = 0x00 if self._state == "token" else 0x10
        if curve is None or self._state == "idle" or (command.cla & 0x10) != expected_cla:
            return self._fail(SW_CONDITIONS)
        try:
            if self._state == "nonce":
                if tlv.decode_single(command.data, 0x7C).value:
                    return self._fail(SW_WRONG_DATA)
                nonce = self._rng(16)
                self._s = int.from_bytes(nonce, "big")
                z = aes_cbc(self._k_pi, b"\x00" * 16, nonce)
                self._state = "map"
                return ResponseAPDU(tlv.encode(0x7C, tlv.encode(0x80, z)), 0x90, 0x00)
            if self._state == "map":
                term_map = curve.decode_point(_dynamic_auth_data(command.data, 0x81))
                self._map_sk = _random_scalar(self._rng, curve)
                h = curve.mul(self._map_sk, term_map)
                self._g_tilde = curve.add(curve.mul(self._s, curve.g), h)
                if h is None or self._g_tilde is None:
                    return self._fail(SW_AUTH_FAILED)
                self._state = "key"
                own = curve.encode_point(curve.mul(self._map_sk, curve.g))
                return ResponseAPDU(tlv.encode(0x7C, tlv.encode(0x82, own)), 0x90, 0x00)
            if self._state == "key":
                self._terminal_eph_pk = _dynamic_auth_data(command.data, 0x83)
                term_eph = curve.decode_point(self._terminal_eph_pk)
                self._eph_sk = _random_scalar(self._rng, curve)
                self._eph_pk = curve.encode_point(curve.mul(self._eph_sk, self._g_tilde))
                if hmac.compare_digest(self._eph_pk, self._terminal_eph_pk):
                    return self._fail(SW_AUTH_FAILED)
                shared = curve.mul(self._eph_sk, term_eph)
                if shared is None:
                    return self._fail(SW_AUTH_FAILED)
                secret = shared[0].to_bytes(curve.size, "big")
                self._ks_enc = kdf(secret, KdfCounter.ENC, "AES128")
                self._ks_mac = kdf(secret, KdfCounter.MAC, "AES128")
                self._state = "token"
                return ResponseAPDU(tlv.encode(0x7C, tlv.encode(0x84, self._eph_pk)), 0x90, 0x00)
            if self._state == "token":
                t_pcd = _dynamic_auth_data(command.data, 0x85)
                if not hmac.compare_digest(t_pcd, auth_token(self._ks_mac, self._oid, self._eph_pk)):
                    return self._fail(SW_AUTH_FAILED)
                t_ic = auth_token(self._ks_mac, self._oid, self._terminal_eph_pk)
                self.result = AccessResult(
                    "PACE", self._ks_enc, self._ks_mac, SecureMessaging.for_pace(self._ks_enc, self._ks_mac)
                )
                self._reset()
                return ResponseAPDU(tlv.encode(0x7C, tlv.encode(0x86, t_ic)), 0x90, 0x00)
        except ParseError:
            return self._fail(SW_WRONG_DATA)
        return self._fail(SW_CONDITIONS)
