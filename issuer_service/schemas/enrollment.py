"""Enrollment request and response bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EnrollmentCompleteRequest", "EnrollmentCompleteResponse", "EnrollmentStartResponse", "Strict"]


class Strict(BaseModel):
    """Unknown members are refused, bodies are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EnrollmentStartResponse(Strict):
    enrollment_id: str = Field(description="Opaque id of this enrollment; send it back with the evidence")
    challenge: str = Field(description="base64url of the 8 bytes the chip must sign (active authentication)")
    expires_at: int = Field(description="Unix seconds after which the challenge is void")
    enrollment_key: dict[str, Any] = Field(description="P-256 public JWK to seal the evidence to (ECDH-ES)")


class EnrollmentCompleteRequest(Strict):
    enrollment_id: str = Field(min_length=1, max_length=128)
    evidence: str = Field(min_length=1, max_length=65536, description="The sealed evidence: a compact JWE")


class EnrollmentCompleteResponse(Strict):
    netno: str = Field(description="The person's network number (lifelong; the same after card renewal)")
    credential_offer: dict[str, Any] = Field(description="OpenID4VCI credential offer, pre-authorized code")
    credential_offer_uri: str = Field(description="The same offer as an openid-credential-offer:// URI")
