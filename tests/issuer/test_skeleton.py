"""The issuer's front: metadata documents, keys per purpose, problem details, readiness, a live server."""

from __future__ import annotations

import base64

import httpx
import pytest

from netid.credentials.trust import IssuerTrust
from tests.issuer.conftest import InProcessIssuer, LiveIssuer


def test_jwks_publishes_one_key_per_purpose(issuer: InProcessIssuer) -> None:
    jwks = issuer.client.get("/jwks.json").json()
    assert sorted(k["netid_purpose"] for k in jwks["keys"]) == ["netcert", "rp_certificate", "status_list"]
    assert all("d" not in k for k in jwks["keys"])
    IssuerTrust(jwks, issuer=issuer.settings.issuer_url)  # a verifier accepts it as it is
    vc = issuer.client.get("/.well-known/jwt-vc-issuer").json()
    assert vc["issuer"] == issuer.settings.issuer_url
    assert [k["netid_purpose"] for k in vc["jwks"]["keys"]] == ["netcert"]


def test_openid4vci_metadata(issuer: InProcessIssuer) -> None:
    meta = issuer.client.get("/.well-known/openid-credential-issuer").json()
    base = issuer.settings.issuer_url
    assert meta["credential_issuer"] == base and meta["credential_endpoint"] == f"{base}/credential"
    assert meta["nonce_endpoint"] == f"{base}/nonce"
    assert meta["batch_credential_issuance"] == {"batch_size": 30}
    assert set(meta["credential_configurations_supported"]) == {"netcert", "netcert_rp"}
    oauth = issuer.client.get("/.well-known/oauth-authorization-server").json()
    assert oauth["token_endpoint"] == f"{base}/token"
    assert "urn:ietf:params:oauth:grant-type:pre-authorized_code" in oauth["grant_types_supported"]


def test_enrollment_start_gives_a_fresh_challenge(issuer: InProcessIssuer) -> None:
    a = issuer.client.post("/enrollment/start").json()
    b = issuer.client.post("/enrollment/start").json()
    assert a["enrollment_id"] != b["enrollment_id"] and a["challenge"] != b["challenge"]
    assert len(base64.urlsafe_b64decode(a["challenge"] + "==")) == 8
    assert a["enrollment_key"]["crv"] == "P-256" and "d" not in a["enrollment_key"]
    assert a["expires_at"] == issuer.clock() + issuer.settings.enrollment_ttl


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("get", "/no/such/thing", 404, "not_found"),
    ("delete", "/jwks.json", 405, "method_not_allowed"),
])  # fmt: skip
def test_errors_are_problem_documents(
    issuer: InProcessIssuer, method: str, path: str, status: int, code: str
) -> None:
    response = issuer.client.request(method.upper(), path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["type"] == f"/problems/{code}"
    assert issuer.client.get(body["type"]).json()["title"] == body["title"]


def test_readiness(issuer: InProcessIssuer) -> None:
    assert issuer.client.get("/healthz").json() == {"status": "ok"}
    assert issuer.client.get("/readyz").json() == {"status": "ready"}


@pytest.mark.slow
def test_live_server_serves_metadata(live_issuer: LiveIssuer) -> None:
    meta = httpx.get(f"{live_issuer.url}/.well-known/openid-credential-issuer").json()
    assert meta["credential_issuer"] == live_issuer.url


def test_key_ring_reloads_inside_a_writing_transaction(issuer: InProcessIssuer) -> None:
    """The ring is re-read every 30 s, often in the middle of a request whose transaction already holds
    SQLite's write lock: the reload must not wait for that lock (it did, for 10 s, then failed)."""
    import datetime as dt
    import time

    from issuer_service.db.base import transaction
    from issuer_service.db.tables import Nonce

    context = issuer.client.app.state.context  # type: ignore[attr-defined]
    context.keys.ring()
    with transaction(context.sessions) as session:
        session.add(Nonce(nonce_hash="0" * 64, expires_at=dt.datetime.now(dt.UTC)))
        session.flush()  # this transaction now holds the write lock
        context.keys._ring = None  # stale: the next call reloads
        started = time.monotonic()
        assert context.keys.ring().jwks()["keys"]
        assert time.monotonic() - started < 2
