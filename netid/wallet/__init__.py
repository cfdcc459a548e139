"""The holder side: device keys, consent, and presentations to relying parties."""

from netid.wallet.consent import ConsentPrompt, build_consent_prompt
from netid.wallet.in_person import answer_counter
from netid.wallet.keystore import DeviceKeyStore, SoftwareKeyStore
from netid.wallet.present import OFFLINE, PresentationResponse, Wallet, WalletCredential, present

__all__ = [
    "OFFLINE",
    "ConsentPrompt",
    "DeviceKeyStore",
    "PresentationResponse",
    "SoftwareKeyStore",
    "Wallet",
    "WalletCredential",
    "answer_counter",
    "build_consent_prompt",
    "present",
]
