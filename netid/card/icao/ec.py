"""Just enough affine elliptic-curve arithmetic for PACE generic mapping (ICAO 9303-11 §4.4.3.3.1).

``cryptography`` does ECDH and key validation but has no point addition or multiplication by a base other
than the curve's generator, and generic mapping needs both: ``G~ = s*G + H`` and ephemeral keys
``k*G~``. Points are affine ``(x, y)`` tuples, ``None`` is the point at infinity.

Scalar multiplication uses a Montgomery ladder so the sequence of group operations does not depend on
the key bits; Python integers are not constant time, so this is a mitigation, not a guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from netid.errors import ParseError, UsageError

Point = tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class Curve:
    """A short-Weierstrass curve y^2 = x^3 + a*x + b over GF(p) with a prime-order generator."""

    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    crypto_curve: ec.EllipticCurve

    @property
    def g(self) -> tuple[int, int]:
        return (self.gx, self.gy)

    @property
    def size(self) -> int:
        """Length in bytes of a field element."""
        return (self.p.bit_length() + 7) // 8

    def on_curve(self, point: Point) -> bool:
        if point is None:
            return False
        x, y = point
        if not (0 <= x < self.p and 0 <= y < self.p):
            return False
        return (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        x1, y1 = p1
        x2, y2 = p2
        if x1 == x2:
            if (y1 + y2) % self.p == 0:
                return None
            lam = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, self.p) % self.p
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, self.p) % self.p
        x3 = (lam * lam - x1 - x2) % self.p
        return (x3, (lam * (x1 - x3) - y1) % self.p)

    def mul(self, k: int, point: Point) -> Point:
        """``k * point`` by a Montgomery ladder."""
        r0: Point = None
        r1: Point = point
        for i in reversed(range(max(k.bit_length(), self.n.bit_length()))):
            if (k >> i) & 1:
                r0, r1 = self.add(r0, r1), self.add(r1, r1)
            else:
                r0, r1 = self.add(r0, r0), self.add(r0, r1)
        return r0

    def encode_point(self, point: Point) -> bytes:
        """Uncompressed SEC1 encoding ``04 || x || y``."""
        if point is None:
            raise UsageError("cannot encode the point at infinity")
        return b"\x04" + point[0].to_bytes(self.size, "big") + point[1].to_bytes(self.size, "big")

    def decode_point(self, data: bytes) -> tuple[int, int]:
        """Decode an uncompressed point received from the peer, checking that it lies on the curve."""
        if len(data) != 1 + 2 * self.size or data[0] != 0x04:
            raise ParseError("EC point", "not an uncompressed point of the right size")
        point = (int.from_bytes(data[1 : 1 + self.size], "big"), int.from_bytes(data[1 + self.size :], "big"))
        if not self.on_curve(point):
            raise ParseError("EC point", "point is not on the curve")
        return point


BRAINPOOL_P256R1 = Curve(
    name="brainpoolP256r1",
    p=0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
    a=0x7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9,
    b=0x26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6,
    gx=0x8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262,
    gy=0x547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997,
    n=0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7,
    crypto_curve=ec.BrainpoolP256R1(),
)

NIST_P256 = Curve(
    name="secp256r1",
    p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    a=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
    b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    crypto_curve=ec.SECP256R1(),
)

#: PACE standardized domain parameter ids (ICAO 9303-11 §9.5.1) that NetID supports
PACE_CURVES: dict[int, Curve] = {12: NIST_P256, 13: BRAINPOOL_P256R1}
