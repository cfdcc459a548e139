"""The API's request and response bodies (pydantic). Separate from the tables (``db/tables.py``): a
response is built field by field from a service result, never from a stored row."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EnrollmentCompleteRequest", "EnrollmentCompleteResponse", "EnrollmentStartResponse"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnrollmentStartResponse(_Strict):
    enrollment_id: str = Field(description="Opaque id of this enrollment; send it back with the evidence")
    challenge: str = Field(description="base64url of the 8 bytes the chip must sign (active authentication)")
    expires_at: int = Field(description="Unix seconds after which the challenge is void")
    enrollment_key: dict[str, Any] = Field(description="P-256 public JWK to seal the evidence to (ECDH-ES)")


class EnrollmentCompleteRequest(_Strict):
    enrollment_id: str = Field(min_length=1, max_length=128)
    evidence: str = Field(min_length=1, max_length=65536, description="The sealed evidence: a compact JWE")


class EnrollmentCompleteResponse(_Strict):
    netno: str = Field(description="The person's network number (lifelong; the same after card renewal)")
    credential_offer: dict[str, Any] = Field(description="OpenID4VCI credential offer, pre-authorized code")
    credential_offer_uri: str = Field(description="The same offer as an openid-credential-offer:// URI")
