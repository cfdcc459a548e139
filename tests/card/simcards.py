"""Minimal chip images for simulator and reader tests (no test kit needed): raw TLV files."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from netid.card import tlv
from netid.card.icao.aa import AAPrivateKey
from netid.card.icao.access import MrzAccessKey
from netid.card.icao.lds import FID_CARD_ACCESS, FID_COM, FID_DG, FID_SOD
from netid.card.icao.security_infos import (
    ECDSA_PLAIN_SHA256,
    ID_PACE_ECDH_GM_AES_CBC_CMAC_128,
    ActiveAuthenticationInfo,
    PaceInfo,
    SecurityInfos,
    encode_security_infos,
)
from netid.card.simulator.image import ChipImage

MRZ_KEY = MrzAccessKey("L898902C", "690806", "940623")
CAN = "123456"

_EC_KEY = ec.derive_private_key(0x1234567890ABCDEF, ec.SECP256R1())


def filler(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def build_image(
    *,
    pace: tuple[int, ...] = (13,),
    bac: bool = True,
    extended: bool = True,
    dg2_size: int = 3000,
    aa_key: AAPrivateKey | None = _EC_KEY,
    max_read_length: int = 0xE0,
    historical_bytes: bytes | None = None,
) -> ChipImage:
    """An eMRTD image with EF.COM, DG1, DG2 (``dg2_size`` value bytes), DG11, DG14, DG15 and EF.SOD."""
    files: dict[int, bytes] = {}
    if pace:
        infos = SecurityInfos(pace=tuple(PaceInfo(ID_PACE_ECDH_GM_AES_CBC_CMAC_128, 2, p) for p in pace))
        files[FID_CARD_ACCESS] = encode_security_infos(infos)
    tags = bytes([0x61, 0x75, 0x6B, 0x6E] + ([0x6F] if aa_key is not None else []))
    files[FID_COM] = tlv.encode(
        0x60, [tlv.encode(0x5F01, b"0107"), tlv.encode(0x5F36, b"040000"), tlv.encode(0x5C, tags)]
    )
    files[FID_DG[1]] = tlv.encode(0x61, tlv.encode(0x5F1F, b"I<UTOL898902C<3" + b"<" * 75))
    files[FID_DG[2]] = tlv.encode(0x75, filler(dg2_size, 2))
    files[FID_DG[11]] = tlv.encode(0x6B, tlv.encode(0x5F10, b"11010519491231002X"))
    aa_info = (
        ActiveAuthenticationInfo(ECDSA_PLAIN_SHA256)
        if isinstance(aa_key, ec.EllipticCurvePrivateKey)
        else None
    )
    files[FID_DG[14]] = tlv.encode(0x6E, encode_security_infos(SecurityInfos(active_authentication=aa_info)))
    if aa_key is not None:
        spki = aa_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        files[FID_DG[15]] = tlv.encode(0x6F, spki)
    files[FID_SOD] = tlv.encode(0x77, filler(1500, 77))
    image = ChipImage(
        files=files,
        mrz_information=MRZ_KEY.mrz_information,
        can=CAN,
        aa_private_key=aa_key,
        bac_enabled=bac,
        extended_length=extended,
        max_read_length=max_read_length,
    )
    if historical_bytes is not None:
        image = image.replace(historical_bytes=historical_bytes)
    return image


def rsa_key(bits: int = 1024) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def counter_rng(seed: int = 1) -> Callable[[int], bytes]:
    """Deterministic randomness for reproducible tests."""
    r = random.Random(seed)
    return r.randbytes


def sequence_rng(values: list[bytes]) -> Callable[[int], bytes]:
    """Returns the given byte strings in order (to inject vector private keys and nonces)."""
    it: Iterator[bytes] = iter(values)

    def rng(n: int) -> bytes:
        value = next(it)
        assert len(value) == n, (len(value), n)
        return value

    return rng
