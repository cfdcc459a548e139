"""The holder side: device keys, consent, and presentations to relying parties; and, loaded on first use,
a PIN-protected wallet on disk (:class:`WalletSession` over a :class:`WalletStore`) with the holder's own
log (:class:`LogEntry`), presentation over HTTP (:func:`present_uri`; a counter's QR code:
:func:`answer_counter_qr`) and on-device face verification (:class:`FaceMatcher`, :class:`FaceCheck`; TEST
ONLY :class:`SimulatedFaceMatcher`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netid._lazy import lazy_exports
from netid.wallet.consent import ConsentPrompt, build_consent_prompt
from netid.wallet.in_person import answer_counter
from netid.wallet.keystore import AttestingKeyStore, DeviceKeyStore, SoftwareKeyStore
from netid.wallet.present import (
    OFFLINE,
    PresentationLog,
    PresentationResponse,
    Wallet,
    WalletCredential,
    present,
)

if TYPE_CHECKING:
    from netid.wallet.face import (
        FaceCapture,
        FaceCheck,
        FaceMatch,
        FaceMatcher,
        FaceRecord,
        GuardianConsent,
        SimulatedCamera,
        SimulatedFaceMatcher,
    )
    from netid.wallet.http import CounterAnswer, PresentationOutcome, answer_counter_qr, present_uri
    from netid.wallet.log import LogEntry, export_json, presentation_entry
    from netid.wallet.session import RefreshPolicy, WalletSession
    from netid.wallet.store import (
        KdfParams,
        WalletLockedError,
        WalletStore,
        WrongPinError,
        default_wallet_path,
    )

# the disk wallet pulls in argon2 and httpx: loaded when first named, so `import netid.wallet` stays light
_LAZY = {
    "FaceCapture": "netid.wallet.face",
    "FaceCheck": "netid.wallet.face",
    "FaceMatch": "netid.wallet.face",
    "FaceMatcher": "netid.wallet.face",
    "FaceRecord": "netid.wallet.face",
    "GuardianConsent": "netid.wallet.face",
    "SimulatedCamera": "netid.wallet.face",
    "SimulatedFaceMatcher": "netid.wallet.face",
    "CounterAnswer": "netid.wallet.http",
    "PresentationOutcome": "netid.wallet.http",
    "answer_counter_qr": "netid.wallet.http",
    "present_uri": "netid.wallet.http",
    "LogEntry": "netid.wallet.log",
    "export_json": "netid.wallet.log",
    "presentation_entry": "netid.wallet.log",
    "RefreshPolicy": "netid.wallet.session",
    "WalletSession": "netid.wallet.session",
    "KdfParams": "netid.wallet.store",
    "WalletLockedError": "netid.wallet.store",
    "WalletStore": "netid.wallet.store",
    "WrongPinError": "netid.wallet.store",
    "default_wallet_path": "netid.wallet.store",
}

__all__ = [
    "OFFLINE",
    "AttestingKeyStore",
    "ConsentPrompt",
    "CounterAnswer",
    "DeviceKeyStore",
    "FaceCapture",
    "FaceCheck",
    "FaceMatch",
    "FaceMatcher",
    "FaceRecord",
    "GuardianConsent",
    "KdfParams",
    "LogEntry",
    "PresentationLog",
    "PresentationOutcome",
    "PresentationResponse",
    "RefreshPolicy",
    "SimulatedCamera",
    "SimulatedFaceMatcher",
    "SoftwareKeyStore",
    "Wallet",
    "WalletCredential",
    "WalletLockedError",
    "WalletSession",
    "WalletStore",
    "WrongPinError",
    "answer_counter",
    "answer_counter_qr",
    "build_consent_prompt",
    "default_wallet_path",
    "export_json",
    "present",
    "present_uri",
    "presentation_entry",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
