"""The trust anchors: the CSCAs enrollment verifies cards against, and the key attesters issuance trusts.

CSCAs are a folder of certificates (PEM or DER). An ICAO master list (a CMS SignedData of CSCA
certificates) can be dropped into the folder as well; its certificates are added after the list's own
signature chain is checked (``*.ml`` files).

Key attesters (OpenID4VCI 1.0 Appendix D) are a JWKS file (``key_attesters_path``): the public keys of
the wallet providers whose key attestations the credential endpoint accepts, each with its ``kid``.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509

from issuer_service.core.config import Settings
from netid.card.icao.passive_auth import CscaTrustStore
from netid.errors import ParseError
from netid.oid4vci.key_attestation import (
    KeyAttestationPolicy,
    KeyAttestationRequirement,
    load_attester_keys,
)

__all__ = ["load_key_attestation_policy", "load_trust_store"]


def load_trust_store(path: Path | None) -> CscaTrustStore:
    """The trust store from ``path`` (empty when ``None``: every enrollment then fails ``ds_chain``)."""
    store = CscaTrustStore()
    if path is None:
        return store
    if not path.is_dir():
        raise FileNotFoundError(f"csca_path {path} is not a folder of CSCA certificates")
    for file in sorted(path.iterdir()):
        if file.suffix.lower() in (".pem", ".crt"):
            for cert in x509.load_pem_x509_certificates(file.read_bytes()):
                store.add(cert)
        elif file.suffix.lower() in (".der", ".cer"):
            store.add(x509.load_der_x509_certificate(file.read_bytes()))
    return store


def load_key_attestation_policy(settings: Settings) -> KeyAttestationPolicy | None:
    """The key attestation policy ``settings`` describe, or ``None`` when no attesters are configured
    (then key attestations are neither required nor accepted). A file that is missing, not JSON or not
    a JWKS of public keys with distinct ``kid`` s raises ``ValueError`` (``OSError`` when unreadable),
    naming the setting: the issuer must not start with a weaker policy than its operator wrote."""
    path = settings.key_attesters_path
    if path is None:
        return None
    try:
        jwks = json.loads(Path(path).read_text(encoding="utf-8"))
        attesters = load_attester_keys(jwks)
    except (ParseError, ValueError) as exc:
        raise ValueError(f"key_attesters_path {path} is not a JWKS of attester keys: {exc}") from exc
    requirement = KeyAttestationRequirement(
        key_storage=settings.required_key_storage,
        user_authentication=settings.required_user_authentication,
    )
    return KeyAttestationPolicy(attesters, requirement)
