"""RFC 9901 Selective Disclosure JWTs.

- :mod:`.codec` — base64url, :class:`Disclosure`, digests, the ``~`` serialization;
- :mod:`.issue` — :func:`issue_sd_jwt` with :class:`SD` / :class:`SDItem` markers;
- :mod:`.present` — :func:`present_sd_jwt` (holder: choose disclosures, add a KB-JWT);
- :mod:`.verify` — :func:`verify_sd_jwt` (verifier: every RFC 9901 §7 check, stable error codes).
"""

from netid.credentials.sdjwt.codec import Disclosure, SdJwtParts, join_sd_jwt, split_sd_jwt
from netid.credentials.sdjwt.issue import SD, IssuedSdJwt, SDItem, issue_sd_jwt
from netid.credentials.sdjwt.present import ClaimPath, disclosable_claims, present_sd_jwt
from netid.credentials.sdjwt.verify import VerifiedSdJwt, verify_sd_jwt

__all__ = [
    "SD",
    "ClaimPath",
    "Disclosure",
    "IssuedSdJwt",
    "SDItem",
    "SdJwtParts",
    "VerifiedSdJwt",
    "disclosable_claims",
    "issue_sd_jwt",
    "join_sd_jwt",
    "present_sd_jwt",
    "split_sd_jwt",
    "verify_sd_jwt",
]
