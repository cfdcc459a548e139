"""Key derivation for BAC and PACE (ICAO 9303-11 §9.7.1): ``KDF(K, c) = H(K || c)`` truncated.

For 3DES and AES-128 session keys ``H`` is SHA-1 and the first 16 bytes are the key; 3DES keys then get
DES odd parity. The counter ``c`` is a 32-bit big-endian integer: 1 for the encryption key, 2 for the MAC
key, 3 for the PACE password key ``K_pi``.
"""

from __future__ import annotations

import hashlib
from enum import IntEnum
from typing import Literal

from netid.errors import UsageError

CipherName = Literal["3DES", "AES128"]


class KdfCounter(IntEnum):
    ENC = 1
    MAC = 2
    PACE_PI = 3


def adjust_des_parity(key: bytes) -> bytes:
    """Set the low bit of every byte so each byte has odd parity (DES keys carry parity in that bit)."""
    out = bytearray()
    for b in key:
        high = b & 0xFE
        out.append(high | ((bin(high).count("1") + 1) & 1))
    return bytes(out)


def kdf(shared_secret: bytes, counter: int, cipher: CipherName) -> bytes:
    """Derive a 16-byte key for ``cipher`` from ``shared_secret`` and ``counter``."""
    if not 0 <= counter < 2**32:
        raise UsageError("KDF counter must fit 32 bits")
    digest = hashlib.sha1(  # noqa: S324 - ICAO 9303-11 §9.7.1 mandates SHA-1 here
        shared_secret + counter.to_bytes(4, "big"), usedforsecurity=True
    ).digest()
    if cipher == "3DES":
        return adjust_des_parity(digest[:16])
    if cipher == "AES128":
        return digest[:16]
    raise UsageError(f"unsupported cipher {cipher!r}")


def bac_key_seed(mrz_information: str) -> bytes:
    """``K_seed``: the first 16 bytes of SHA-1 over the MRZ information (ICAO 9303-11 §9.7.2)."""
    return hashlib.sha1(mrz_information.encode("ascii"), usedforsecurity=True).digest()[:16]  # noqa: S324


def bac_keys(mrz_information: str) -> tuple[bytes, bytes]:
    """The BAC document basic access keys ``(K_enc, K_mac)``."""
    seed = bac_key_seed(mrz_information)
    return kdf(seed, KdfCounter.ENC, "3DES"), kdf(seed, KdfCounter.MAC, "3DES")


def pace_password_key(password: bytes, *, is_mrz: bool) -> bytes:
    """``K_pi`` for AES-128 PACE: from SHA-1(MRZ information) for the MRZ password, the CAN itself else."""
    secret = hashlib.sha1(password, usedforsecurity=True).digest() if is_mrz else password  # noqa: S324
    return kdf(secret, KdfCounter.PACE_PI, "AES128")
