"""Routes being built (see the issuer-service issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
