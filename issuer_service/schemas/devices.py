"""Device revocation request and response bodies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeviceRevokeRequest", "RevocationResponse", "RevokeByCardRequest"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceRevokeRequest(_Strict):
    request: str = Field(
        min_length=1,
        max_length=4096,
        description="A compact JWS, typ netid-revoke+jwt, signed by the device key recorded at enrollment "
        "(public key in its jwk header), with claims aud (the issuer), iat and jti (single use)",
    )


class RevokeByCardRequest(_Strict):
    enrollment_id: str = Field(min_length=1, max_length=128, description="From POST /enrollment/start")
    evidence: str = Field(
        min_length=1, max_length=65536, description="Sealed evidence of a card read with that challenge (JWE)"
    )


class RevocationResponse(_Strict):
    netno: str = Field(description="The network number whose devices were revoked")
    devices: int = Field(description="How many of this person's devices are revoked now")
    credentials: int = Field(description="How many credentials this request revoked (0 on a retry)")
