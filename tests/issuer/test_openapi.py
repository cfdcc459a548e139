"""specs/openapi.json is the API the code serves: this test fails when the two differ.

Regenerate after changing a route or a schema, and commit the result with the change:

    netid-issuer openapi specs/openapi.json
    NETID_REGEN_OPENAPI=1 pytest tests/issuer/test_openapi.py      (the same, through the test)
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

from issuer_service.cli import OPENAPI_ISSUER_URL, openapi_document
from issuer_service.core.problems import PROBLEM_TYPES

SPEC = Path(__file__).resolve().parents[2] / "specs" / "openapi.json"
REGENERATE = (
    "netid-issuer openapi specs/openapi.json (or NETID_REGEN_OPENAPI=1 pytest tests/issuer/test_openapi.py)"
)


def test_specs_openapi_json_is_current() -> None:
    document = openapi_document()
    if os.environ.get("NETID_REGEN_OPENAPI"):
        SPEC.write_text(document, encoding="utf-8")
    assert SPEC.exists(), f"specs/openapi.json is missing: run {REGENERATE}"
    stored = SPEC.read_text(encoding="utf-8")
    if stored != document:
        diff = "".join(
            list(
                difflib.unified_diff(stored.splitlines(True), document.splitlines(True), "stored", "served")
            )[:80]
        )
        raise AssertionError(f"specs/openapi.json is stale: run {REGENERATE}\n{diff}")


def test_the_document_does_not_depend_on_the_machine(tmp_path: Path) -> None:
    # the command, in a process whose environment sets other settings, writes the same bytes
    env = os.environ | {
        "NETID_ISSUER_ISSUER_URL": "https://elsewhere.example",
        "NETID_ISSUER_MAX_BODY_BYTES": "4096",
        "NETID_ISSUER_BATCH_SIZE": "7",
    }
    out = tmp_path / "openapi.json"
    subprocess.run(
        [sys.executable, "-m", "issuer_service", "openapi", str(out)], env=env, check=True, timeout=120
    )
    document = out.read_text(encoding="utf-8")
    assert document == openapi_document()
    for local in ("127.0.0.1", "elsewhere.example", str(Path.home()), str(tmp_path)):
        assert local not in document
    assert OPENAPI_ISSUER_URL.startswith("https://")


def test_the_document_describes_operations_and_problems() -> None:
    spec = json.loads(openapi_document())
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "NetID issuer"
    for path in (
        "/healthz",
        "/readyz",
        "/jwks.json",
        "/.well-known/openid-credential-issuer",
        "/status/{list_id}",
    ):
        assert path in spec["paths"], path
    assert "/metrics" not in spec["paths"]  # Prometheus text, for scrapers: not part of the API
    assert set(PROBLEM_TYPES) >= {"too_large", "rate_limited", "validation", "internal"}
