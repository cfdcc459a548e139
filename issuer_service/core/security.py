"""Who may call the admin API: bearer tokens whose SHA-256 the settings hold, by administrator name.

``Settings.admin_tokens`` maps an administrator's *name* to the lowercase SHA-256 hex of their token;
the token itself is never stored. A request authenticates with ``Authorization: Bearer <token>``: the
token's digest is compared with **every** configured digest in constant time (no early exit, so the
answer's timing says neither whether nor which name matched), and the caller is known by the name from
then on. The name — never the token, nor its digest — is what goes into the audit log.

No administrator configured means no admin API: every admin call is refused with ``401``.

The OpenAPI document declares the scheme (:data:`ADMIN_BEARER`, HTTP bearer); the FastAPI dependency
that applies it is :data:`issuer_service.api.deps.AdminDep`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from fastapi.security import HTTPBearer

from issuer_service.core.problems import Problem

__all__ = ["ADMIN_BEARER", "ADMIN_SCHEME", "Admin", "authenticate_admin", "token_digest"]

#: the name of the security scheme in the OpenAPI document
ADMIN_SCHEME: Final = "AdminToken"
#: RFC 6750 §3: what a client without (valid) credentials is told
_CHALLENGE: Final = 'Bearer realm="netid-admin"'
_CHALLENGE_INVALID: Final = 'Bearer realm="netid-admin", error="invalid_token"'

#: the admin API's security scheme; ``auto_error=False`` so a missing header is our own 401 problem
ADMIN_BEARER: Final = HTTPBearer(
    scheme_name=ADMIN_SCHEME,
    description="An administrator's token (`Settings.admin_tokens` holds its SHA-256 under their name)",
    auto_error=False,
)


@dataclass(frozen=True, slots=True)
class Admin:
    """An authenticated administrator."""

    name: str

    @property
    def actor(self) -> str:
        """How the audit log names this administrator."""
        return f"admin:{self.name}"


def token_digest(token: str) -> str:
    """The lowercase SHA-256 hex of ``token``: what ``Settings.admin_tokens`` holds."""
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate_admin(token: str | None, admin_tokens: Mapping[str, str]) -> Admin:
    """The administrator whose token this is; :class:`Problem` ``unauthorized`` (401, with a
    ``WWW-Authenticate`` challenge) when ``token`` is missing or matches no configured digest."""
    if not token:
        raise Problem(
            "unauthorized",
            "an administrator's bearer token is required",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    presented = token_digest(token).encode()
    found: str | None = None
    # Every configured digest is compared, whatever matched before: the time taken depends only on how
    # many administrators there are.
    for name, digest in admin_tokens.items():
        if hmac.compare_digest(presented, digest.encode()):
            found = name
    if found is None:
        raise Problem(
            "unauthorized",
            "the bearer token is not an administrator's",
            headers={"WWW-Authenticate": _CHALLENGE_INVALID},
        )
    return Admin(found)
