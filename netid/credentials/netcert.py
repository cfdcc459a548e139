"""The network certificate (netcert) format: what every party needs to recognise one.

A netcert is an SD-JWT VC (``typ: dc+sd-jwt``, ``vct: urn:netid:netcert:1``) signed by the issuer and bound
to one device key (``cnf.jwk``). The normative claim table is ``specs/protocol.md`` §3; minting lives
with the issuer (:mod:`netid.issuance.netcerts`), verification with the relying party
(:mod:`netid.verifier`), presentation with the holder (:mod:`netid.wallet`).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["CHIP_AUTH_VALUES", "NETCERT_TYP", "NETCERT_VCT", "ChipAuth", "NetcertKind"]

NETCERT_VCT: Final = "urn:netid:netcert:1"
NETCERT_TYP: Final = "dc+sd-jwt"

#: how the ID card chip was authenticated at enrollment: active authentication, chip authentication, or
#: passive authentication only (the chip's data is genuine, but the chip itself could be a clone)
ChipAuth = Literal["aa", "ca", "pa-only"]
CHIP_AUTH_VALUES: Final[tuple[ChipAuth, ...]] = ("aa", "ca", "pa-only")

#: ``anonymous``: no subject at all (age gates); ``rp``: carries the pairwise ``sub`` of one RP sector
NetcertKind = Literal["anonymous", "rp"]
