"""netid.card.icao.ec: fastecdsa arithmetic against an independent affine reference and ``cryptography``,
and the peer-point decoder against OpenSSL's (through ``cryptography``) on hostile input."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec as crypto_ec
from hypothesis import given, settings
from hypothesis import strategies as st

from netid.card.icao.ec import BRAINPOOL_P256R1, NIST_P256, PACE_CURVES, Curve, Point
from netid.errors import ParseError, UsageError

CURVES = list(PACE_CURVES.values())


@dataclass(frozen=True)
class Reference:
    """Textbook affine arithmetic on the published domain parameters: slow, obviously right, independent of
    fastecdsa (the arithmetic NetID used before it moved onto fastecdsa)."""

    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2:
            if (y1 + y2) % self.p == 0:
                return None
            lam = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, self.p) % self.p
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, self.p) % self.p
        x3 = (lam * lam - x1 - x2) % self.p
        return (x3, (lam * (x1 - x3) - y1) % self.p)

    def mul(self, k: int, point: Point) -> Point:
        result: Point = None
        for bit in bin(k)[2:]:
            result = self.add(result, result)
            if bit == "1":
                result = self.add(result, point)
        return result


# RFC 5639 §3.4 (brainpoolP256r1) and SEC 2 v2 §2.4.2 / FIPS 186-4 D.1.2.3 (P-256)
REFERENCE = {
    "brainpoolP256r1": Reference(
        p=0xA9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377,
        a=0x7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9,
        b=0x26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6,
        gx=0x8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262,
        gy=0x547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997,
        n=0xA9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7,
    ),
    "secp256r1": Reference(
        p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        a=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
        b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
        n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
}

scalars = st.integers(1, 2**256 - 1)


def _crypto_public(curve: Curve, k: int) -> tuple[int, int]:
    numbers = crypto_ec.derive_private_key(k, curve.crypto_curve).public_key().public_numbers()
    return numbers.x, numbers.y


def _openssl_accepts(curve: Curve, data: bytes) -> bool:
    try:
        crypto_ec.EllipticCurvePublicKey.from_encoded_point(curve.crypto_curve, data)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_domain_parameters_are_the_published_ones(curve: Curve) -> None:
    ref = REFERENCE[curve.name]
    backend = curve.backend
    assert (backend.p, backend.a % ref.p, backend.b, backend.q) == (ref.p, ref.a, ref.b, ref.n)
    assert curve.g == (ref.gx, ref.gy) == _crypto_public(curve, 1)
    assert (curve.p, curve.n, curve.size) == (ref.p, ref.n, 32)
    assert PACE_CURVES == {12: NIST_P256, 13: BRAINPOOL_P256R1}


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@settings(max_examples=8)
@given(k1=scalars, k2=scalars, s=st.integers(0, 2**128 - 1))
def test_generic_mapping_arithmetic_matches_reference(curve: Curve, k1: int, k2: int, s: int) -> None:
    """The operations of PACE generic mapping: k*G, k*P on a peer point, s*G + H, doubling."""
    ref = REFERENCE[curve.name]
    k1, k2 = k1 % (curve.n - 1) + 1, k2 % (curve.n - 1) + 1
    pk = curve.mul(k1, curve.g)
    assert pk == ref.mul(k1, (ref.gx, ref.gy))
    h = curve.mul(k2, pk)
    assert h == ref.mul(k2, pk)
    g_tilde = curve.add(curve.mul(s, curve.g), h)
    assert g_tilde == ref.add(ref.mul(s, (ref.gx, ref.gy)), h)
    assert curve.add(h, h) == ref.add(h, h) == curve.mul(2, h)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@settings(max_examples=20)
@given(k1=scalars, k2=scalars)
def test_shared_secret_matches_cryptography_ecdh(curve: Curve, k1: int, k2: int) -> None:
    """x(k2 * (k1*G)) equals what OpenSSL's ECDH derives from the same keys."""
    k1, k2 = k1 % (curve.n - 1) + 1, k2 % (curve.n - 1) + 1
    peer = curve.mul(k1, curve.g)
    assert peer == _crypto_public(curve, k1)
    shared = curve.mul(k2, peer)
    assert shared is not None
    peer_key = crypto_ec.EllipticCurvePublicKey.from_encoded_point(
        curve.crypto_curve, curve.encode_point(peer)
    )
    expected = crypto_ec.derive_private_key(k2, curve.crypto_curve).exchange(crypto_ec.ECDH(), peer_key)
    assert shared[0].to_bytes(curve.size, "big") == expected


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_point_at_infinity_edges(curve: Curve) -> None:
    p = curve.mul(12345, curve.g)
    assert p is not None
    minus_p = (p[0], curve.p - p[1])
    assert curve.mul(0, p) is None
    assert curve.mul(curve.n, p) is None
    assert curve.mul(curve.n + 1, p) == p
    assert curve.mul(7, None) is None
    assert curve.add(p, minus_p) is None
    assert curve.add(p, None) == p == curve.add(None, p)
    assert curve.add(None, None) is None
    assert not curve.on_curve(None)
    with pytest.raises(UsageError):
        curve.encode_point(None)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_own_off_curve_points_are_a_usage_error(curve: Curve) -> None:
    """A bad point from NetID's own code is a bug (UsageError), never mistaken for peer garbage."""
    gx, gy = curve.g
    for bad in [(gx, gy + 1), (gx, gy + curve.p), (-1, gy), (gx, 2**300)]:
        assert not curve.on_curve(bad)
        with pytest.raises(UsageError):
            curve.mul(3, bad)
        with pytest.raises(UsageError):
            curve.add(curve.g, bad)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
def test_decode_refuses_what_is_not_a_canonical_point(curve: Curve) -> None:
    gx, gy = curve.g
    size = curve.size

    def raw(x: int, y: int) -> bytes:
        return b"\x04" + x.to_bytes(size, "big") + y.to_bytes(size, "big")

    assert curve.decode_point(raw(gx, gy)) == curve.g
    refused = [
        b"",
        b"\x00",  # SEC1's encoding of the point at infinity
        raw(0, 0),
        raw(0, 1),  # fastecdsa's own (affine) coordinates for infinity
        raw(gx, gy + 1),  # off the curve
        raw(gx, curve.p - 1),
        raw(curve.p, gy),  # a coordinate equal to the field prime
        curve.encode_point(curve.g)[:-1],
        curve.encode_point(curve.g) + b"\x00",
        b"\x02" + gx.to_bytes(size, "big"),  # compressed: valid in SEC1, not in PACE's 86 data object
        b"\x06" + raw(gx, gy)[1:],  # hybrid
        b"\x07" + raw(gx, gy)[1:],
    ]
    if gy + curve.p < 2 ** (8 * size):
        refused.append(raw(gx, gy + curve.p))  # non-canonical: fastecdsa alone would reduce it to G
    for data in refused:
        with pytest.raises(ParseError):
            curve.decode_point(data)
        if data[:1] == b"\x04":
            assert not _openssl_accepts(curve, data)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@given(data=st.binary(max_size=80))
def test_decode_arbitrary_bytes_raises_only_parse_error(curve: Curve, data: bytes) -> None:
    with contextlib.suppress(ParseError):
        point = curve.decode_point(data)
        assert curve.on_curve(point)


@st.composite
def near_points(draw: st.DrawFn, curve: Curve) -> bytes:
    """Uncompressed encodings of real points, some with a coordinate nudged, reduced or not."""
    k = draw(st.integers(1, curve.n - 1))
    x, y = curve.mul(k, curve.g) or (0, 0)
    which = draw(st.sampled_from(["keep", "x", "y"]))
    delta = draw(st.sampled_from([1, -1, curve.p, -curve.p, 2**255]))
    if which == "x":
        x += delta
    elif which == "y":
        y += delta
    modulus = 1 << (8 * curve.size)  # wrap into the field-element width, as a peer's bytes would
    return b"\x04" + (x % modulus).to_bytes(curve.size, "big") + (y % modulus).to_bytes(curve.size, "big")


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: c.name)
@settings(max_examples=60)
@given(data=st.data())
def test_decode_accepts_exactly_what_openssl_accepts(curve: Curve, data: st.DataObject) -> None:
    encoded = data.draw(
        st.one_of(near_points(curve), st.binary(min_size=64, max_size=64).map(lambda b: b"\x04" + b))
    )
    try:
        point = curve.decode_point(encoded)
    except ParseError:
        assert not _openssl_accepts(curve, encoded)
    else:
        assert _openssl_accepts(curve, encoded)
        assert curve.encode_point(point) == encoded
