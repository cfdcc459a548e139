"""The holder side: device keys, consent, and presentations to relying parties."""

from netid.wallet.consent import ConsentPrompt, build_consent_prompt
from netid.wallet.keystore import DeviceKeyStore, SoftwareKeyStore
from netid.wallet.present import PresentationResponse, Wallet, WalletCredential, present

__all__ = [
    "ConsentPrompt",
    "DeviceKeyStore",
    "PresentationResponse",
    "SoftwareKeyStore",
    "Wallet",
    "WalletCredential",
    "build_consent_prompt",
    "present",
]
