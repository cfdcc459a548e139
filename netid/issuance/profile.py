"""Who the issuer is and how it mints: one parameter object instead of a dozen keywords per call."""

from __future__ import annotations

from dataclasses import dataclass, field

from netid.errors import UsageError
from netid.issuance.keys import IssuerKeys
from netid.issuance.netcerts import NetcertPolicy

__all__ = ["IssuerProfile"]


@dataclass(frozen=True, slots=True)
class IssuerProfile:
    """The issuer identifier (``iss``), its keys, and its minting policy.

    ``rp_certificate_validity`` is in seconds; ``status_list_prefix`` is where its status lists are served
    (verifiers fetch only under it; default ``<issuer>/status/``).
    """

    issuer: str
    keys: IssuerKeys = field(repr=False)
    netcert_policy: NetcertPolicy = field(default_factory=NetcertPolicy)
    rp_certificate_validity: int = 365 * 86_400
    status_list_prefix: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not self.issuer:
            raise UsageError("issuer must be a non-empty identifier (an https URL)")
        if not self.status_list_prefix:
            object.__setattr__(self, "status_list_prefix", self.issuer.rstrip("/") + "/status/")
        if not self.status_list_prefix.startswith(self.issuer.rstrip("/") + "/"):
            raise UsageError("status_list_prefix must lie under the issuer identifier")
