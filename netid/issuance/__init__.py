"""The issuer's side: minting netcert batches, RP access certificates and status lists.

What the issuer service wraps (``issuer_service/`` adds HTTP, storage and key stores). Pure functions over
an :class:`IssuerProfile` (who the issuer is, its keys per purpose, its minting policy); clock and
randomness are parameters.

>>> from netid.issuance import IssuerKeys, IssuerProfile
>>> profile = IssuerProfile("https://issuer.example", IssuerKeys.generate(kid_prefix="2026-1"))
>>> sorted(k["netid_purpose"] for k in profile.keys.jwks()["keys"])
['netcert', 'rp_certificate', 'status_list']
"""

from netid.issuance.keys import IssuerKey, IssuerKeys
from netid.issuance.netcerts import IdentityAttributes, NetcertPolicy, RpScope, mint_netcert_batch
from netid.issuance.profile import IssuerProfile
from netid.issuance.rp_certificates import RpRegistration, issue_rp_certificate
from netid.issuance.status_lists import (
    RECOMMENDED_MIN_LIST_SIZE,
    allocate_indices,
    status_claim,
    status_list_token,
)

__all__ = [
    "RECOMMENDED_MIN_LIST_SIZE",
    "IdentityAttributes",
    "IssuerKey",
    "IssuerKeys",
    "IssuerProfile",
    "NetcertPolicy",
    "RpRegistration",
    "RpScope",
    "allocate_indices",
    "issue_rp_certificate",
    "mint_netcert_batch",
    "status_claim",
    "status_list_token",
]
