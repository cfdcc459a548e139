"""What a wallet and the issuer both speak: enrollment evidence and OpenID4VCI 1.0 (offers, key proofs, key
attestations).

The issuer service (``issuer_service/``) checks what this package defines; the wallet
(:mod:`netid.wallet`) builds it. Neither imports the other. ``specs/enrollment.md`` is the normative
description of enrollment; OpenID4VCI 1.0 is the standard for the rest.
"""

from netid.oid4vci.evidence import EVIDENCE_CTY, EnrollmentEvidence, open_evidence
from netid.oid4vci.key_attestation import (
    KEY_ATTESTATION_TYP,
    KeyAttestation,
    KeyAttestationPolicy,
    KeyAttestationRequirement,
    build_key_attestation,
    load_attester_keys,
    verify_key_attestation,
)
from netid.oid4vci.offer import ANONYMOUS, RP_SCOPED, CredentialOffer, parse_credential_offer
from netid.oid4vci.proofs import (
    PROOF_TYP,
    ProvenKeys,
    build_key_proof,
    claimed_nonce,
    verify_key_proofs,
    verify_proofs,
)

__all__ = [
    "ANONYMOUS",
    "EVIDENCE_CTY",
    "KEY_ATTESTATION_TYP",
    "PROOF_TYP",
    "RP_SCOPED",
    "CredentialOffer",
    "EnrollmentEvidence",
    "KeyAttestation",
    "KeyAttestationPolicy",
    "KeyAttestationRequirement",
    "ProvenKeys",
    "build_key_attestation",
    "build_key_proof",
    "claimed_nonce",
    "load_attester_keys",
    "open_evidence",
    "parse_credential_offer",
    "verify_key_attestation",
    "verify_key_proofs",
    "verify_proofs",
]
