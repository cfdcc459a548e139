"""OpenID4VCI 1.0 request and response bodies (token, nonce, credential endpoints).

The token request is form-encoded (RFC 6749) and the credential request is checked by the service with
OpenID4VCI's own error codes, so these models document the API (OpenAPI) and shape the answers.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CREDENTIAL_REQUEST_SCHEMA",
    "TOKEN_REQUEST_SCHEMA",
    "CredentialResponse",
    "IssuedCredentialItem",
    "NonceResponse",
    "TokenResponse",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenResponse(_Strict):
    access_token: str = Field(description="Opaque bearer token for the credential endpoint")
    token_type: str = Field(default="Bearer", description="Always Bearer")
    expires_in: int = Field(description="Seconds the access token is valid")
    refresh_token: str = Field(
        description="Single-use: exchange it (grant_type=refresh_token) for a new pair and a fresh batch "
        "without reading the card again; presenting a used one revokes the device's tokens"
    )


class NonceResponse(_Strict):
    c_nonce: str = Field(description="A fresh single-use nonce for the key proofs (OpenID4VCI 1.0 §7)")


class IssuedCredentialItem(_Strict):
    credential: str = Field(description="One netcert: an SD-JWT VC (dc+sd-jwt) with all its disclosures")


class CredentialResponse(_Strict):
    credentials: list[IssuedCredentialItem] = Field(description="One credential per key proof, in order")


#: the form the token endpoint takes (OpenAPI only; parsed by the route)
TOKEN_REQUEST_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {
            "type": "string",
            "enum": ["urn:ietf:params:oauth:grant-type:pre-authorized_code", "refresh_token"],
        },
        "pre-authorized_code": {"type": "string", "description": "From the credential offer"},
        "refresh_token": {"type": "string", "description": "From the previous token response"},
    },
}

#: the credential request (OpenID4VCI 1.0 §8.2 plus NetID's netid_rp; OpenAPI only, checked by the service)
CREDENTIAL_REQUEST_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["credential_configuration_id", "proofs"],
    "properties": {
        "credential_configuration_id": {"type": "string", "enum": ["netcert", "netcert_rp"]},
        "proofs": {
            "type": "object",
            "description": "Exactly one proof type. attestation (and a jwt proof with a key_attestation "
            "header) only where the issuer's metadata lists it, and then one of them is required",
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "jwt": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "string",
                        "description": "openid4vci-proof+jwt, one per device key; or exactly one carrying "
                        "a key attestation of the whole batch in its key_attestation header",
                    },
                },
                "attestation": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1,
                    "items": {
                        "type": "string",
                        "description": "key-attestation+jwt (OpenID4VCI 1.0 Appendix D): one credential per "
                        "attested key",
                    },
                },
            },
        },
        "netid_rp": {"type": "string", "description": "The registered RP whose sector scopes netcert_rp"},
    },
}
