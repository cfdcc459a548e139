"""The one loader for published test vectors (``specs/vectors/*.json``; provenance in PROVENANCE.md).

Independent of ``netid`` on purpose: vectors are data about the standards, not about our code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent.parent / "specs" / "vectors"


def load_vectors(name: str) -> dict[str, Any]:
    """Load ``specs/vectors/<name>.json`` (``name`` without the extension)."""
    path = VECTORS_DIR / f"{name}.json"
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def h(hex_string: str) -> bytes:
    """Bytes from a vector's hex string."""
    return bytes.fromhex(hex_string)
