"""What one issuer process holds: settings, database, keys, trust anchors (CSCAs, key attesters), clock and
randomness.

Built once by :func:`issuer_service.main.create_app` (or by the command line for offline tasks) and
handed to routes through :mod:`issuer_service.api.deps`. Clock and randomness are injected so tests can
move time and services stay deterministic where they need to be.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from issuer_service.core.config import Settings
from issuer_service.keys.store import KeyStore
from issuer_service.services.keys import KeyService
from netid.card.icao.passive_auth import CscaTrustStore
from netid.oid4vci.key_attestation import KeyAttestationPolicy

__all__ = ["IssuerContext"]


def _clock() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A signed status list token, valid for one list version until ``expires``."""

    version: int
    token: str
    expires: int


@dataclass
class IssuerContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keystore: KeyStore
    keys: KeyService
    trust_store: CscaTrustStore
    #: the trusted key attesters and what their attestations must say; ``None``: attestation not required
    key_attestation: KeyAttestationPolicy | None = None
    clock: Callable[[], int] = field(default=_clock)
    rng: Callable[[int], bytes] = field(default=secrets.token_bytes)
    #: signed status list tokens by list id (issuer_service.services.status)
    status_cache: dict[int, CachedToken] = field(default_factory=dict)
