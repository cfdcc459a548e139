"""NetID: privacy-preserving identity verification.

Read an ID card chip once over NFC; an issuer mints a pseudonymous network number and device-bound
network certificates; relying parties verify yes/no answers without ever seeing the ID number.

One obvious entry point per task, importable from here (loaded on first use, so ``import netid`` stays
cheap and optional backends stay optional):

- card: :func:`read_document`, :func:`read_document_with_retry`, :func:`verify_document`,
  :func:`open_reader`, :class:`MrzAccessKey`, :class:`CanAccessKey`
- relying party: :class:`Query`, :func:`build_request`, :class:`Verifier`, :class:`PresentationRequest`,
  :class:`IssuerTrust`, :class:`CachedStatusLists`, :class:`InMemoryReplayCache`, :class:`Answers`, and
  in person :func:`build_counter_request`, :class:`CounterVerifier`, :class:`CounterRequest`
- holder: :class:`Wallet`
- limits every component applies: :class:`Policy`
- errors: every class of :mod:`netid.errors`
- tests: :mod:`netid.testing` (simulated cards, card servers, a whole test world, the leak scanner)

>>> import netid
>>> [p.name for p in netid.Query(purpose="age check", age_over=18).predicates()]
['age_over_18']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netid._lazy import lazy_exports
from netid.errors import (
    ISSUANCE_CODES,
    VERIFICATION_CODES,
    AccessControlError,
    ActiveAuthenticationError,
    CardError,
    CardStatusError,
    CardTimeoutError,
    CredentialError,
    EnrollmentError,
    FaceError,
    IssuanceError,
    MissingBackendError,
    NetIDError,
    NetnoError,
    NoCardError,
    NoReaderError,
    NotEnrolledError,
    ParseError,
    PassiveAuthenticationError,
    PresentationError,
    ReaderError,
    SecureMessagingError,
    TagLostError,
    TransactionError,
    UsageError,
    VerificationError,
    WalletError,
    WalletFileError,
    WalletInUseError,
    WalletLockedError,
    WalletNotFoundError,
    WalletRefusal,
    WrongPinError,
)

_LAZY = {
    "read_document": "netid.card.icao.read_document",
    "read_document_with_retry": "netid.card.icao.read_document",
    "verify_document": "netid.card.icao.verify_document",
    "open_reader": "netid.card.backends.registry",
    "MrzAccessKey": "netid.card.icao.access",
    "CanAccessKey": "netid.card.icao.access",
    "Answers": "netid.verifier",
    "CachedStatusLists": "netid.verifier",
    "CounterRequest": "netid.verifier",
    "CounterVerifier": "netid.verifier",
    "InMemoryReplayCache": "netid.verifier",
    "IssuerTrust": "netid.verifier",
    "PresentationRequest": "netid.verifier",
    "Query": "netid.verifier",
    "Verifier": "netid.verifier",
    "build_counter_request": "netid.verifier",
    "build_request": "netid.verifier",
    "Policy": "netid.policy",
    "Wallet": "netid.wallet",
}

__all__ = [
    "ISSUANCE_CODES",
    "VERIFICATION_CODES",
    "AccessControlError",
    "ActiveAuthenticationError",
    "Answers",
    "CachedStatusLists",
    "CanAccessKey",
    "CardError",
    "CardStatusError",
    "CardTimeoutError",
    "CounterRequest",
    "CounterVerifier",
    "CredentialError",
    "EnrollmentError",
    "FaceError",
    "InMemoryReplayCache",
    "IssuanceError",
    "IssuerTrust",
    "MissingBackendError",
    "MrzAccessKey",
    "NetIDError",
    "NetnoError",
    "NoCardError",
    "NoReaderError",
    "NotEnrolledError",
    "ParseError",
    "PassiveAuthenticationError",
    "Policy",
    "PresentationError",
    "PresentationRequest",
    "Query",
    "ReaderError",
    "SecureMessagingError",
    "TagLostError",
    "TransactionError",
    "UsageError",
    "VerificationError",
    "Verifier",
    "Wallet",
    "WalletError",
    "WalletFileError",
    "WalletInUseError",
    "WalletLockedError",
    "WalletNotFoundError",
    "WalletRefusal",
    "WrongPinError",
    "__version__",
    "build_counter_request",
    "build_request",
    "open_reader",
    "read_document",
    "read_document_with_retry",
    "verify_document",
]

if TYPE_CHECKING:
    __version__: str
    from netid.card.backends.registry import open_reader
    from netid.card.icao.access import CanAccessKey, MrzAccessKey
    from netid.card.icao.read_document import read_document, read_document_with_retry
    from netid.card.icao.verify_document import verify_document
    from netid.policy import Policy
    from netid.verifier import (
        Answers,
        CachedStatusLists,
        CounterRequest,
        CounterVerifier,
        InMemoryReplayCache,
        IssuerTrust,
        PresentationRequest,
        Query,
        Verifier,
        build_counter_request,
        build_request,
    )
    from netid.wallet import Wallet


def _version() -> str:
    # from the installed package's metadata, read on first use: importlib.metadata costs ~20 ms to import
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("netid")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0+unknown"


_lazy_getattr, _lazy_dir = lazy_exports(__name__, _LAZY, globals())


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = globals()["__version__"] = _version()
        return value
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return sorted({*_lazy_dir(), "__version__"})
