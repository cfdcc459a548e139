"""The CSCA trust anchors enrollment verifies cards against: a folder of certificates (PEM or DER).

An ICAO master list (a CMS SignedData of CSCA certificates) can be dropped into the folder as well; its
certificates are added after the list's own signature chain is checked (``*.ml`` files).
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from netid.card.icao.passive_auth import CscaTrustStore

__all__ = ["load_trust_store"]


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
