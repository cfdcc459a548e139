"""OpenID4VCI 1.0 vocabulary NetID's issuer and wallet share: configuration ids, the credential offer,
the pre-authorized code grant.

The issuer ends enrollment with a **credential offer** (§4.1) carrying a pre-authorized code; the wallet
redeems it at the token endpoint and asks the credential endpoint for batches. Two credential
configurations exist, both ``dc+sd-jwt`` with ``vct`` ``urn:netid:netcert:1``: :data:`ANONYMOUS` (no
subject; for age gates) and :data:`RP_SCOPED` (the pairwise subject of one registered RP, named in the
credential request's ``netid_rp`` parameter, NetID's extension).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from netid.errors import ParseError

__all__ = [
    "ANONYMOUS",
    "CONFIGURATION_IDS",
    "OFFER_URI_SCHEME",
    "PRE_AUTHORIZED_GRANT",
    "RP_SCOPED",
    "CredentialOffer",
    "parse_credential_offer",
]

ANONYMOUS: Final = "netcert"
RP_SCOPED: Final = "netcert_rp"
CONFIGURATION_IDS: Final = (ANONYMOUS, RP_SCOPED)
PRE_AUTHORIZED_GRANT: Final = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
OFFER_URI_SCHEME: Final = "openid-credential-offer://"


@dataclass(frozen=True, slots=True)
class CredentialOffer:
    """A credential offer with a pre-authorized code (the code is a bearer secret: ``repr`` hides it)."""

    credential_issuer: str
    credential_configuration_ids: tuple[str, ...]
    pre_authorized_code: str

    def __repr__(self) -> str:
        return f"CredentialOffer({self.credential_issuer!r}, {self.credential_configuration_ids!r})"

    def to_json(self) -> dict[str, Any]:
        return {
            "credential_issuer": self.credential_issuer,
            "credential_configuration_ids": list(self.credential_configuration_ids),
            "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": self.pre_authorized_code}},
        }

    def to_uri(self) -> str:
        """``openid-credential-offer://?credential_offer=…`` (by value, §4.1.2)."""
        body = json.dumps(self.to_json(), separators=(",", ":"))
        return OFFER_URI_SCHEME + "?" + urllib.parse.urlencode({"credential_offer": body})


def parse_credential_offer(offer: Mapping[str, Any] | str) -> CredentialOffer:
    """A :class:`CredentialOffer` from its JSON object or ``openid-credential-offer://`` URI.

    :class:`ParseError` for anything else (by-reference offers are not used by NetID's issuer).
    """
    if isinstance(offer, str):
        try:
            query = urllib.parse.urlsplit(offer).query
            params = urllib.parse.parse_qs(query, strict_parsing=True, max_num_fields=4)
            offer = json.loads(params["credential_offer"][0])
        except (ValueError, KeyError, IndexError, RecursionError) as exc:
            raise ParseError("credential offer", "not an openid-credential-offer:// URI by value") from exc
    if not isinstance(offer, Mapping):
        raise ParseError("credential offer", "not a JSON object")
    issuer = offer.get("credential_issuer")
    ids = offer.get("credential_configuration_ids")
    grants = offer.get("grants")
    grant = grants.get(PRE_AUTHORIZED_GRANT) if isinstance(grants, Mapping) else None
    code = grant.get("pre-authorized_code") if isinstance(grant, Mapping) else None
    if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
        raise ParseError("credential offer", "credential_issuer must be a URL")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ParseError("credential offer", "credential_configuration_ids must be strings")
    if not isinstance(code, str) or not code:
        raise ParseError("credential offer", "no pre-authorized code")
    return CredentialOffer(issuer, tuple(ids), code)
