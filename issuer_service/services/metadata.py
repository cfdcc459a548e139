"""The issuer's published metadata documents, from its settings, key ring and key attestation policy.

Nothing here does I/O beyond :meth:`~issuer_service.services.keys.KeyService.ring`:
:func:`credential_issuer_metadata` is built from memory alone (its route runs on the event loop).
"""

from __future__ import annotations

from typing import Any

from issuer_service.core.context import IssuerContext
from netid.credentials.jose import ALLOWED_ALGORITHMS
from netid.credentials.netcert import NETCERT_TYP, NETCERT_VCT
from netid.oid4vci.offer import ANONYMOUS, PRE_AUTHORIZED_GRANT, RP_SCOPED

__all__ = ["authorization_server_metadata", "credential_issuer_metadata", "jwt_vc_issuer_metadata"]


def jwt_vc_issuer_metadata(context: IssuerContext) -> dict[str, Any]:
    """SD-JWT VC §5: the issuer identifier and the keys netcerts are signed with."""
    return {"issuer": context.settings.issuer_url, "jwks": context.keys.ring().netcert_jwks()}


def _proof_types(context: IssuerContext) -> dict[str, Any]:
    """``proof_types_supported``: ``jwt`` key proofs; with a key attestation policy both ``jwt`` (carrying
    the attestation in its ``key_attestation`` header) and ``attestation``, each with
    ``key_attestations_required`` (OpenID4VCI 1.0 §12.2.4: present exactly when attestations are
    required). An attestation's ``alg`` is its attester's, so that type lists the attesters' algorithms."""
    algorithms = list(ALLOWED_ALGORITHMS)
    policy = context.key_attestation
    if policy is None:
        return {"jwt": {"proof_signing_alg_values_supported": algorithms}}
    required = policy.requirement.to_metadata()
    return {
        "jwt": {"proof_signing_alg_values_supported": algorithms, "key_attestations_required": required},
        "attestation": {
            "proof_signing_alg_values_supported": list(policy.algorithms),
            "key_attestations_required": dict(required),
        },
    }


def _configuration(context: IssuerContext, name: str, description: str) -> dict[str, Any]:
    return {
        "format": NETCERT_TYP,
        "vct": NETCERT_VCT,
        "scope": name,
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": [context.settings.netcert_alg],
        "proof_types_supported": _proof_types(context),
        "credential_metadata": {
            "display": [
                {"name": "网证 Network certificate", "locale": "zh-CN", "description": description},
            ],
        },
    }


def credential_issuer_metadata(context: IssuerContext) -> dict[str, Any]:
    """OpenID4VCI 1.0 §12.2: endpoints, batch size, the two netcert configurations."""
    base = context.settings.issuer_url
    return {
        "credential_issuer": base,
        "authorization_servers": [base],
        "credential_endpoint": f"{base}/credential",
        "nonce_endpoint": f"{base}/nonce",
        "batch_credential_issuance": {"batch_size": context.settings.batch_size},
        "display": [{"name": "NetID", "locale": "en"}, {"name": "网号网证", "locale": "zh-CN"}],
        "credential_configurations_supported": {
            ANONYMOUS: _configuration(context, ANONYMOUS, "Yes/no answers about you, with no identifier"),
            RP_SCOPED: _configuration(context, RP_SCOPED, "Sign-in to one app with a pseudonym for that app"),
        },
    }


def authorization_server_metadata(context: IssuerContext) -> dict[str, Any]:
    """RFC 8414 with OpenID4VCI's pre-authorized code grant (§12.3)."""
    base = context.settings.issuer_url
    return {
        "issuer": base,
        "token_endpoint": f"{base}/token",
        "grant_types_supported": [PRE_AUTHORIZED_GRANT, "refresh_token"],
        "pre-authorized_grant_anonymous_access_supported": True,
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": [],
    }
