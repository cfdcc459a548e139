"""Elliptic-curve points for PACE generic mapping (ICAO 9303-11 §4.4.3.3.1), on ``fastecdsa``.

``cryptography`` does ECDH on a curve's own generator but has no point addition or multiplication of an
arbitrary point, and generic mapping needs both: ``G~ = s*G + H`` and ephemeral keys ``k*G~``. This module
is the one place that binds to ``fastecdsa`` (compiled, ~0.25 ms per scalar multiplication); the rest of
NetID sees affine ``(x, y)`` tuples, and ``None`` for the point at infinity. fastecdsa multiplies by a
Montgomery ladder but promises side-channel resistance only for its signature API, and the scalars pass
through Python integers: as with any Python PACE, a mitigation, not a guarantee.

Peer points enter only through :meth:`Curve.decode_point`, which refuses anything but a canonical
uncompressed encoding of a point on the curve (both curves here have cofactor 1, so that point is in the
prime-order group) with :class:`~netid.errors.ParseError`. ``tests/card/test_ec.py`` checks the
arithmetic against an independent affine implementation and against ``cryptography``, and the decoder
against OpenSSL's; ``tests/card/test_pace.py`` replays the ICAO 9303-11 Appendix G.1 worked example.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from fastecdsa import curve as fe_curve

# the types live in fastecdsa.rust (typed by its rust.pyi); fastecdsa.point and .curve re-export them
# without marking the re-export, which strict mypy refuses
from fastecdsa.rust import Curve as FeCurve
from fastecdsa.rust import Point as FePoint

from netid.errors import ParseError, UsageError

Point = tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class Curve:
    """A prime-order short-Weierstrass curve: its name, ``fastecdsa`` curve and ``cryptography`` curve."""

    name: str
    backend: FeCurve
    crypto_curve: ec.EllipticCurve

    @property
    def p(self) -> int:
        """The field prime."""
        return self.backend.p

    @property
    def n(self) -> int:
        """The order of the generator (the group order: cofactor 1)."""
        return self.backend.q

    @property
    def g(self) -> tuple[int, int]:
        generator = self.backend.G
        return (generator.x, generator.y)

    @property
    def size(self) -> int:
        """Length in bytes of a field element."""
        return (self.p.bit_length() + 7) // 8

    def on_curve(self, point: Point) -> bool:
        """Whether ``point`` is an affine point of the curve with coordinates reduced modulo p."""
        return point is not None and self._lift(point) is not None

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        return self._affine(self._lift_checked(p1) + self._lift_checked(p2))

    def mul(self, k: int, point: Point) -> Point:
        """``k * point``."""
        if point is None:
            return None
        return self._affine(k * self._lift_checked(point))

    def encode_point(self, point: Point) -> bytes:
        """Uncompressed SEC1 encoding ``04 || x || y``."""
        if point is None:
            raise UsageError("cannot encode the point at infinity")
        return b"\x04" + point[0].to_bytes(self.size, "big") + point[1].to_bytes(self.size, "big")

    def decode_point(self, data: bytes) -> tuple[int, int]:
        """Decode an uncompressed point received from the peer, checking that it lies on the curve.

        The point at infinity has no uncompressed encoding, so it is refused with the rest.
        """
        if len(data) != 1 + 2 * self.size or data[0] != 0x04:
            raise ParseError("EC point", "not an uncompressed point of the right size")
        point = (int.from_bytes(data[1 : 1 + self.size], "big"), int.from_bytes(data[1 + self.size :], "big"))
        if self._lift(point) is None:
            raise ParseError("EC point", "point is not on the curve")
        return point

    def _lift(self, point: tuple[int, int]) -> FePoint | None:
        """The ``fastecdsa`` point for ``(x, y)``, or ``None`` if it is not a reduced point of the curve."""
        x, y = point
        # fastecdsa reduces coordinates modulo p (so it would take a non-canonical encoding) and panics on
        # ones wider than the field: only hand it coordinates in [0, p).
        if not (0 <= x < self.p and 0 <= y < self.p):
            return None
        try:
            return FePoint(x, y, self.backend)
        except ValueError:  # fastecdsa: "point is not on the curve"
            return None

    def _lift_checked(self, point: tuple[int, int]) -> FePoint:
        lifted = self._lift(point)
        if lifted is None:
            raise UsageError(f"not a point of {self.name}")
        return lifted

    @staticmethod
    def _affine(point: FePoint) -> Point:
        normal = point.normalize()
        if normal.z == 0:  # fastecdsa's point at infinity is (0 : 1 : 0)
            return None
        return (normal.x, normal.y)


BRAINPOOL_P256R1 = Curve("brainpoolP256r1", fe_curve.brainpoolP256r1, ec.BrainpoolP256R1())
NIST_P256 = Curve("secp256r1", fe_curve.P256, ec.SECP256R1())

#: PACE standardized domain parameter ids (ICAO 9303-11 §9.5.1) that NetID supports
PACE_CURVES: dict[int, Curve] = {12: NIST_P256, 13: BRAINPOOL_P256R1}
