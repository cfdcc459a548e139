"""Admin authentication: bearer tokens checked against SHA-256 digests, by name, in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from issuer_service.core.problems import Problem
from issuer_service.core.security import ADMIN_SCHEME, authenticate_admin, token_digest
from issuer_service.db.tables import AuditEntry
from issuer_service.main import build_context, create_app
from netid.testing.world import TestClock
from tests.issuer.conftest import ADMIN_TOKENS, InProcessIssuer, settings_for
from tests.issuer.test_registry import rp_body

DIGESTS = {name: hashlib.sha256(token.encode()).hexdigest() for name, token in ADMIN_TOKENS.items()}


def _admin_operations(issuer: InProcessIssuer) -> list[tuple[str, str]]:
    """``(method, path template)`` of every admin operation, from the app's OpenAPI document."""
    paths: dict[str, dict[str, Any]] = issuer.client.get("/openapi.json").json()["paths"]
    return [(m.upper(), p) for p, ops in paths.items() if p.startswith("/admin") for m in ops]


def _concrete(path: str) -> str:
    return path.replace("{purpose}", "netcert").replace("{rp_id}", "x").replace("{request_id}", "x")


def test_every_admin_route_refuses_a_missing_token(issuer: InProcessIssuer) -> None:
    operations = _admin_operations(issuer)
    assert len(operations) >= 13
    for method, path in operations:
        response = issuer.client.request(method, _concrete(path), json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-token",
        f"Bearer {ADMIN_TOKENS['alice']}x",
        f"Bearer {DIGESTS['alice']}",  # the digest is not the token
        f"Basic {ADMIN_TOKENS['alice']}",
        ADMIN_TOKENS["alice"],
        "Bearer ",
    ],
)
def test_wrong_credentials_are_refused(issuer: InProcessIssuer, authorization: str) -> None:
    response = issuer.client.get("/admin/rps", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert "Bearer" in response.headers["www-authenticate"]
    assert ADMIN_TOKENS["alice"] not in response.text


def test_each_admin_token_authenticates(issuer: InProcessIssuer) -> None:
    for name in ADMIN_TOKENS:
        response = issuer.client.get("/admin/rps", headers=issuer.admin(name))
        assert response.status_code == 200, name
        assert response.headers["cache-control"] == "no-store"


def test_no_admin_configured_means_no_admin_api(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, admin_tokens={})
    context = build_context(settings, clock=TestClock())
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as client:
        for token in ADMIN_TOKENS.values():
            response = client.get("/admin/rps", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
            assert response.json()["code"] == "unauthorized"


def test_every_digest_is_compared_whoever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr("issuer_service.core.security.hmac.compare_digest", counting)
    many = {f"admin{i}": token_digest(f"token-{i}") for i in range(5)}
    assert authenticate_admin("token-0", many).name == "admin0"  # the first one matches ...
    assert len(calls) == 5  # ... and all five were still compared
    calls.clear()
    with pytest.raises(Problem) as refused:
        authenticate_admin("token-9", many)
    assert refused.value.code == "unauthorized" and len(calls) == 5
    with pytest.raises(Problem):
        authenticate_admin(None, many)
    with pytest.raises(Problem):
        authenticate_admin("token-0", {})


def test_the_audit_log_names_the_admin_never_the_token(issuer: InProcessIssuer) -> None:
    assert issuer.client.post("/admin/rps", json=rp_body(), headers=issuer.admin("bob")).status_code == 201
    context = issuer.client.app.state.context  # type: ignore[attr-defined]
    with context.sessions() as session:
        entries = list(session.scalars(select(AuditEntry)))
    assert [e.actor for e in entries] == ["admin:bob"]
    dump = repr([(e.actor, e.action, e.subject, e.details) for e in entries])
    for secret in (*ADMIN_TOKENS.values(), *DIGESTS.values()):
        assert secret not in dump
    log = (issuer.tmp / "issuer.log").read_text() if (issuer.tmp / "issuer.log").exists() else ""
    assert all(token not in log for token in ADMIN_TOKENS.values())


def test_openapi_declares_the_admin_scheme_on_every_admin_operation(issuer: InProcessIssuer) -> None:
    document: dict[str, Any] = issuer.client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"][ADMIN_SCHEME]
    assert scheme == {"type": "http", "scheme": "bearer", "description": scheme["description"]}
    admin_ops = [
        (path, method, op)
        for path, ops in document["paths"].items()
        if path.startswith("/admin")
        for method, op in ops.items()
    ]
    assert len(admin_ops) >= 13
    for path, method, op in admin_ops:
        assert op["security"] == [{ADMIN_SCHEME: []}], (method, path)
        assert op.get("summary"), (method, path)
        assert "401" in op["responses"], (method, path)
    assert {"/admin/rps", "/admin/keys/{purpose}/rotate", "/admin/disclosures", "/admin/audit/verify"} <= {
        path for path, _, _ in admin_ops
    }
