"""NetID: privacy-preserving identity verification.

Read an ID card chip once over NFC; an issuer mints a pseudonymous network number and device-bound
network certificates; relying parties verify yes/no answers without ever seeing the ID number.

One obvious entry point per task, importable from here (loaded on first use, so ``import netid`` stays
cheap and optional backends stay optional):

- card: :func:`read_document`, :func:`read_document_with_retry`, :func:`verify_document`,
  :func:`open_reader`, :class:`MrzAccessKey`, :class:`CanAccessKey`
- relying party: :class:`Query`, :func:`build_request`, :class:`Verifier`, :class:`IssuerTrust`,
  :class:`Answers`
- holder: :class:`Wallet`
- errors: everything in :mod:`netid.errors`

>>> import netid
>>> [p.name for p in netid.Query(purpose="age check", age_over=18).predicates()]
['age_over_18']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from netid.errors import (
    AccessControlError,
    ActiveAuthenticationError,
    CardError,
    NetIDError,
    ParseError,
    PassiveAuthenticationError,
    TagLostError,
    UsageError,
    VerificationError,
)

__version__ = "0.1.0"

_LAZY = {
    "read_document": "netid.card.icao.read_document",
    "read_document_with_retry": "netid.card.icao.read_document",
    "verify_document": "netid.card.icao.verify_document",
    "open_reader": "netid.card.backends.registry",
    "MrzAccessKey": "netid.card.icao.access",
    "CanAccessKey": "netid.card.icao.access",
    "Query": "netid.verifier",
    "build_request": "netid.verifier",
    "Verifier": "netid.verifier",
    "IssuerTrust": "netid.verifier",
    "Answers": "netid.verifier",
    "Wallet": "netid.wallet",
}

__all__ = [
    "AccessControlError",
    "ActiveAuthenticationError",
    "Answers",
    "CanAccessKey",
    "CardError",
    "IssuerTrust",
    "MrzAccessKey",
    "NetIDError",
    "ParseError",
    "PassiveAuthenticationError",
    "Query",
    "TagLostError",
    "UsageError",
    "VerificationError",
    "Verifier",
    "Wallet",
    "build_request",
    "open_reader",
    "read_document",
    "read_document_with_retry",
    "verify_document",
]

if TYPE_CHECKING:
    from netid.card.backends.registry import open_reader
    from netid.card.icao.access import CanAccessKey, MrzAccessKey
    from netid.card.icao.read_document import read_document, read_document_with_retry
    from netid.card.icao.verify_document import verify_document
    from netid.verifier import Answers, IssuerTrust, Query, Verifier, build_request
    from netid.wallet import Wallet


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netid' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
