"""The RP registry: registration, the access certificate (with the PIPL Art. 17 notice), updates,
suspension, reinstatement, revocation — each audited; the command-line registration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from issuer_service.cli import main as cli_main
from issuer_service.db.tables import AuditEntry, RelyingParty
from issuer_service.main import build_context, create_app
from issuer_service.services.audit import verify_chain
from issuer_service.services.status import _taken
from netid.credentials.jose import (
    decode_jws_unverified,
    generate_signing_key,
    load_public_jwk,
    public_jwk,
    sign_jws,
)
from netid.credentials.status_list import parse_status_list_token
from netid.credentials.trust import IssuerTrust
from netid.errors import UsageError, VerificationError
from netid.issuance import IssuerKeys, IssuerProfile, RpRegistration, issue_rp_certificate
from netid.oid4vp.certificate import RpCertificate, parse_rp_certificate
from netid.testing.world import NOW, TestClock
from tests.issuer.conftest import InProcessIssuer, issuer_env, settings_for

#: TEST ONLY: the request-signing key of the example RPs
REQUEST_JWK = public_jwk(generate_signing_key("EdDSA"))


def rp_body(rp_id: str = "shop.example", **overrides: Any) -> dict[str, Any]:
    """A registration body for a TEST ONLY relying party."""
    return {
        "rp_id": rp_id,
        "name": "示例商城 Example Shop",
        "sector": rp_id,
        "allowed_predicates": ["age_over_18", "name_equals", "subject"],
        "purposes": ["age check", "sign in"],
        "response_uris": [f"https://{rp_id}/netid/response"],
        "request_jwk": REQUEST_JWK,
        "processor": "Example Shop Co., Ltd.",
        "contact": "privacy@shop.example",
        "retention": "30 days",
        **overrides,
    }


def trust(issuer: InProcessIssuer) -> IssuerTrust:
    return IssuerTrust(issuer.client.get("/jwks.json").json(), issuer=issuer.settings.issuer_url)


def certificate(issuer: InProcessIssuer, token: str) -> RpCertificate:
    """The certificate as a wallet checks it: against the issuer's published JWKS."""
    return parse_rp_certificate(token, trust(issuer), issuer.clock())


def register(issuer: InProcessIssuer, rp_id: str = "shop.example", **overrides: Any) -> dict[str, Any]:
    response = issuer.client.post("/admin/rps", json=rp_body(rp_id, **overrides), headers=issuer.admin())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def rp_status(issuer: InProcessIssuer, rp: dict[str, Any]) -> int:
    """The RP's entry in its status list, as a wallet reads it (verified with the status-list key)."""
    uri, idx = rp["status"]["uri"], rp["status"]["idx"]
    token = issuer.client.get(uri.removeprefix(issuer.settings.issuer_url)).text
    kid = decode_jws_unverified(token)[0]["kid"]
    jwk = next(k for k in issuer.client.get("/jwks.json").json()["keys"] if k["kid"] == kid)
    assert jwk["netid_purpose"] == "status_list"
    return parse_status_list_token(token, load_public_jwk(jwk), now=issuer.clock(), expected_sub=uri).get(idx)


def audit(issuer: InProcessIssuer) -> list[AuditEntry]:
    context = issuer.client.app.state.context  # type: ignore[attr-defined]
    with context.sessions() as session:
        assert verify_chain(session) is None
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def test_registration_issues_a_certificate_a_wallet_accepts(issuer: InProcessIssuer) -> None:
    rp = register(issuer)
    assert rp["state"] == "active" and rp["rp_id"] == "shop.example"
    assert rp["status"]["uri"].startswith(f"{issuer.settings.issuer_url}/status/")
    cert = certificate(issuer, rp["certificate"])
    assert cert.rp_id == "shop.example" and cert.client_id == "verifier_attestation:shop.example"
    assert cert.sector == "shop.example" and cert.name == "示例商城 Example Shop"
    assert cert.allowed_predicates == ("age_over_18", "name_equals", "subject")
    assert cert.response_uris == ("https://shop.example/netid/response",)
    assert dict(cert.request_jwk) == REQUEST_JWK
    assert cert.status == (rp["status"]["uri"], rp["status"]["idx"])
    assert cert.age_thresholds == tuple(sorted(issuer.settings.age_thresholds))
    assert cert.iat == issuer.clock() and cert.exp == rp["certificate_exp"] == issuer.clock() + 365 * 86_400
    # what PIPL Art. 17 requires the person to be told before processing, for the wallet to show
    assert cert.processor == "Example Shop Co., Ltd."
    assert cert.contact == "privacy@shop.example"
    assert cert.retention == "30 days"
    assert cert.purposes == ("age check", "sign in")
    header = decode_jws_unverified(rp["certificate"])[0]
    jwks = issuer.client.get("/jwks.json").json()["keys"]
    assert next(k for k in jwks if k["kid"] == header["kid"])["netid_purpose"] == "rp_certificate"
    assert rp_status(issuer, rp) == 0
    assert issuer.client.get("/admin/rps/shop.example", headers=issuer.admin()).json() == rp
    assert issuer.client.get("/admin/rps", headers=issuer.admin()).json() == {"rps": [rp]}
    [entry] = audit(issuer)
    assert (entry.actor, entry.action, entry.subject) == ("admin:alice", "rp.register", "shop.example")
    assert entry.details["allowed_predicates"] == ["age_over_18", "name_equals", "subject"]
    assert entry.details["status"] == {
        "list": int(rp["status"]["uri"].rsplit("/", 1)[1]),
        "idx": rp["status"]["idx"],
    }
    assert len(entry.details["certificate_sha256"]) == 64


def test_each_rp_gets_its_own_status_entry(issuer: InProcessIssuer) -> None:
    a, b = register(issuer, "a.example"), register(issuer, "b.example")
    assert (a["status"]["uri"], a["status"]["idx"]) != (b["status"]["uri"], b["status"]["idx"])
    listed = issuer.client.get("/admin/rps", headers=issuer.admin()).json()["rps"]
    assert [r["rp_id"] for r in listed] == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"allowed_predicates": ["age_over_18", "favourite_colour"]}, "validation"),
        ({"allowed_predicates": ["age_over_21"]}, "validation"),  # a threshold this issuer does not mint
        ({"allowed_predicates": ["netno"]}, "validation"),  # without netno_allowed
        (
            {"request_jwk": {**REQUEST_JWK, "d": "TEST-private-member-AAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
            "validation",
        ),
        ({"request_jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}, "validation"),
        ({"response_uris": ["http://shop.example/netid/response"]}, "validation"),
        ({"response_uris": ["https://shop.example/cb#fragment"]}, "validation"),
        ({"rp_id": "shop/example"}, "validation"),
        ({"purposes": []}, "validation"),
        ({"retention": ""}, "validation"),
        ({"processor": "x" * 257}, "validation"),
        ({"unknown_member": 1}, "validation"),
    ],
)
def test_registration_refuses_what_no_certificate_may_say(
    issuer: InProcessIssuer, overrides: dict[str, Any], code: str
) -> None:
    response = issuer.client.post("/admin/rps", json=rp_body(**overrides), headers=issuer.admin())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert "TEST-private-member" not in response.text
    assert issuer.client.get("/admin/rps", headers=issuer.admin()).json() == {"rps": []}
    assert audit(issuer) == []


def test_netno_scope_needs_the_authorisation(issuer: InProcessIssuer) -> None:
    rp = register(issuer, allowed_predicates=["netno", "subject"], netno_allowed=True)
    assert rp["netno_allowed"] is True
    assert certificate(issuer, rp["certificate"]).allowed_predicates == ("netno", "subject")


def test_a_duplicate_rp_id_is_a_conflict(issuer: InProcessIssuer) -> None:
    first = register(issuer)
    again = issuer.client.post("/admin/rps", json=rp_body(name="Impostor"), headers=issuer.admin("bob"))
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert issuer.client.get("/admin/rps/shop.example", headers=issuer.admin()).json() == first
    assert [e.action for e in audit(issuer)] == ["rp.register"]


def test_http_response_uris_only_to_loopback_and_only_in_dev_mode(tmp_path: Path) -> None:
    loopback = rp_body(response_uris=["http://127.0.0.1:8080/netid/response"])
    for dev_mode, status in ((True, 201), (False, 422)):
        folder = tmp_path / str(dev_mode)
        url = "http://127.0.0.1:8000" if dev_mode else "https://issuer.netid.test"
        settings = settings_for(folder, dev_mode=dev_mode, issuer_url=url)
        context = build_context(settings, clock=TestClock())
        with TestClient(create_app(settings, context=context), base_url=url) as client:
            headers = InProcessIssuer(client, settings, TestClock(), folder).admin()
            response = client.post("/admin/rps", json=loopback, headers=headers)
            assert response.status_code == status, (dev_mode, response.text)
            remote = client.post(
                "/admin/rps", json=rp_body("b.example", response_uris=["http://b.example/r"]), headers=headers
            )
            assert remote.status_code == 422


def test_update_issues_a_new_certificate(issuer: InProcessIssuer) -> None:
    old = register(issuer)
    issuer.clock.advance(3600)
    response = issuer.client.patch(
        "/admin/rps/shop.example",
        json={"allowed_predicates": ["age_over_18"], "retention": "7 days", "purposes": ["age check"]},
        headers=issuer.admin("bob"),
    )
    assert response.status_code == 200, response.text
    new = response.json()
    assert new["certificate"] != old["certificate"] and new["status"] != old["status"]
    assert new["updated_at"] == issuer.clock() and new["created_at"] == old["created_at"]
    # the certificate it replaced is revoked at once (what the update took back is taken back now), and
    # its entry is never handed out again; the new one is valid
    assert rp_status(issuer, old) == 1 and rp_status(issuer, new) == 0
    assert certificate(issuer, old["certificate"]).status == (old["status"]["uri"], old["status"]["idx"])
    context = issuer.client.app.state.context  # type: ignore[attr-defined]
    with context.sessions() as session:
        entries = {(int(u.rsplit("/", 1)[1]), i) for u, i in ((r["status"]["uri"], r["status"]["idx"])
                                                               for r in (old, new))}  # fmt: skip
        assert _taken(session, "rp", entries) == entries
    cert = certificate(issuer, new["certificate"])
    assert cert.allowed_predicates == ("age_over_18",) and cert.retention == "7 days"
    assert cert.purposes == ("age check",) and cert.processor == "Example Shop Co., Ltd."
    assert cert.iat == issuer.clock()
    entry = audit(issuer)[-1]
    assert (entry.actor, entry.action, entry.subject) == ("admin:bob", "rp.update", "shop.example")
    assert entry.details["changed"] == ["allowed_predicates", "purposes", "retention"]
    assert entry.details["allowed_predicates"] == ["age_over_18"]
    assert entry.details["retired_status"]["idx"] == old["status"]["idx"]
    assert entry.details["status"]["idx"] == new["status"]["idx"]
    assert "7 days" not in json.dumps(entry.details)  # free text is bound by the certificate hash instead
    # the RP's state follows it to its new entry; the replaced certificate stays revoked whatever happens
    assert issuer.client.post("/admin/rps/shop.example/suspend", headers=issuer.admin()).status_code == 200
    assert rp_status(issuer, new) == 2 and rp_status(issuer, old) == 1
    assert issuer.client.post("/admin/rps/shop.example/reinstate", headers=issuer.admin()).status_code == 200
    assert rp_status(issuer, new) == 0 and rp_status(issuer, old) == 1


def test_an_empty_update_renews_the_certificate(issuer: InProcessIssuer) -> None:
    old = register(issuer)
    issuer.clock.advance(86_400)
    new = issuer.client.patch("/admin/rps/shop.example", json={}, headers=issuer.admin()).json()
    assert new["certificate_exp"] == old["certificate_exp"] + 86_400
    assert audit(issuer)[-1].action == "rp.renew"
    # both certificates say the same: they share the entry, and both keep working while the RP is active
    assert new["status"] == old["status"] and rp_status(issuer, old) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"sector": "other.example"},  # every pairwise subject depends on it
        {"rp_id": "other.example"},
        {"name": None},
        {"allowed_predicates": ["favourite_colour"]},
        {"request_jwk": {**REQUEST_JWK, "d": "TEST-private-member-AAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
    ],
)
def test_update_refuses_what_may_not_change(issuer: InProcessIssuer, change: dict[str, Any]) -> None:
    before = register(issuer)
    response = issuer.client.patch("/admin/rps/shop.example", json=change, headers=issuer.admin())
    assert response.status_code == 422 and response.json()["code"] == "validation"
    assert issuer.client.get("/admin/rps/shop.example", headers=issuer.admin()).json() == before


def test_unknown_rp_is_not_found(issuer: InProcessIssuer) -> None:
    for method, path in (
        ("GET", "/admin/rps/nobody.example"),
        ("PATCH", "/admin/rps/nobody.example"),
        ("POST", "/admin/rps/nobody.example/suspend"),
    ):
        response = issuer.client.request(method, path, json={}, headers=issuer.admin())
        assert response.status_code == 404 and response.json()["code"] == "not_found", path


def test_suspend_reinstate_revoke_move_the_status_entry(issuer: InProcessIssuer) -> None:
    rp = register(issuer)
    certificate_before = rp["certificate"]
    for action, state, status in (
        ("suspend", "suspended", 2),
        ("reinstate", "active", 0),
        ("revoke", "revoked", 1),
    ):
        issuer.clock.advance(60)
        response = issuer.client.post(
            f"/admin/rps/shop.example/{action}",
            json={"reason": f"TEST {action}"},
            headers=issuer.admin("bob"),
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state
        assert response.json()["certificate"] == certificate_before  # only the status entry changes
        assert rp_status(issuer, rp) == status, action  # the served list moved at once (no stale cache)
    entries = audit(issuer)
    assert [e.action for e in entries] == ["rp.register", "rp.suspend", "rp.reinstate", "rp.revoke"]
    assert entries[1].details == {"from": "active", "to": "suspended", "reason": "TEST suspend"}
    assert entries[3].details == {"from": "active", "to": "revoked", "reason": "TEST revoke"}
    assert all(e.subject == "shop.example" for e in entries)


def test_revocation_is_final(issuer: InProcessIssuer) -> None:
    register(issuer)
    assert issuer.client.post("/admin/rps/shop.example/revoke", headers=issuer.admin()).status_code == 200
    for method, path, body in (
        ("POST", "/admin/rps/shop.example/reinstate", None),
        ("POST", "/admin/rps/shop.example/suspend", None),
        ("POST", "/admin/rps/shop.example/revoke", None),
        ("PATCH", "/admin/rps/shop.example", {"name": "Back again"}),
    ):
        response = issuer.client.request(method, path, json=body, headers=issuer.admin())
        assert response.status_code == 409 and response.json()["code"] == "conflict", path
    again = issuer.client.post("/admin/rps", json=rp_body(), headers=issuer.admin())
    assert again.status_code == 409  # the id stays taken
    assert (
        issuer.client.get("/admin/rps?state=revoked", headers=issuer.admin()).json()["rps"][0]["state"]
        == "revoked"
    )
    assert issuer.client.get("/admin/rps?state=active", headers=issuer.admin()).json() == {"rps": []}


def test_reinstating_an_active_rp_is_a_conflict(issuer: InProcessIssuer) -> None:
    register(issuer)
    response = issuer.client.post("/admin/rps/shop.example/reinstate", headers=issuer.admin())
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_command_line_registration(
    issuer: InProcessIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in issuer_env(issuer.tmp, port=8000).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NETID_ISSUER_ISSUER_URL", issuer.settings.issuer_url)
    jwk_file = issuer.tmp / "request.jwk"
    jwk_file.write_text(json.dumps(REQUEST_JWK))
    argv = [
        "rp", "register", "--rp-id", "cli.example", "--name", "CLI Shop", "--sector", "cli.example",
        "--predicate", "age_over_18", "--predicate", "subject", "--purpose", "age check",
        "--response-uri", "https://cli.example/netid/response", "--request-jwk", str(jwk_file),
        "--processor", "CLI Shop Ltd.", "--contact", "dpo@cli.example", "--retention", "90 days",
    ]  # fmt: skip
    assert cli_main(argv) == 0
    token = capsys.readouterr().out.strip()
    # the command line runs on the real clock, not the test's
    cert = parse_rp_certificate(token, trust(issuer), decode_jws_unverified(token)[1]["iat"])
    assert (cert.rp_id, cert.processor, cert.contact, cert.retention) == (
        "cli.example", "CLI Shop Ltd.", "dpo@cli.example", "90 days",
    )  # fmt: skip
    assert cert.allowed_predicates == ("age_over_18", "subject")
    # the same registry the HTTP API serves
    rp = issuer.client.get("/admin/rps/cli.example", headers=issuer.admin()).json()
    assert rp["certificate"] == token and rp["state"] == "active"
    assert audit(issuer)[-1].actor.startswith("cli:")
    # refused like the API refuses: exit 2, nothing written
    assert cli_main(argv) == 2
    assert "conflict" in capsys.readouterr().err
    private = issuer.tmp / "private.jwk"
    private.write_text(json.dumps({**REQUEST_JWK, "d": "TEST-private-member-AAAAAAAAAAAAAAAAAAAAAAAAAAA"}))
    argv[argv.index("cli.example")] = "cli2.example"
    argv[argv.index(str(jwk_file))] = str(private)
    assert cli_main(argv) == 2
    assert "TEST-private-member" not in capsys.readouterr().err
    context = issuer.client.app.state.context  # type: ignore[attr-defined]
    with context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RelyingParty)) == 1


@pytest.mark.parametrize("bad", [42, "", ["Example Shop"], {"days": 30}])
def test_a_wallet_refuses_a_malformed_notice(bad: object) -> None:
    """The PIPL claims are optional; present, each must be a non-empty string (specs/protocol.md §4)."""
    keys = IssuerKeys.generate(kid_prefix="TEST-pipl")
    profile = IssuerProfile("https://issuer.netid.test", keys)
    registration = RpRegistration(
        rp_id="shop.example", name="Shop", sector="shop.example", allowed_predicates=("subject",),
        purposes=("sign in",), response_uris=("https://shop.example/r",), request_jwk=REQUEST_JWK,
    )  # fmt: skip
    token = issue_rp_certificate(profile, registration, now=NOW)
    trust = IssuerTrust(keys.jwks(), issuer=profile.issuer)
    plain = parse_rp_certificate(token, trust, NOW)  # without the notice: still a certificate
    assert (plain.processor, plain.contact, plain.retention) == (None, None, None)
    header, payload, _, _ = decode_jws_unverified(token)
    for claim in ("processor", "contact", "retention"):
        forged = sign_jws(
            {**payload, claim: bad}, keys.rp_certificate.signer, typ=header["typ"], kid=header["kid"]
        )
        with pytest.raises(VerificationError) as refused:
            parse_rp_certificate(forged, trust, NOW)
        assert refused.value.code == "rp_certificate", claim


def test_the_issuer_refuses_an_empty_notice() -> None:
    with pytest.raises(UsageError):
        RpRegistration(
            rp_id="shop.example", name="Shop", sector="shop.example", allowed_predicates=("subject",),
            purposes=("sign in",), response_uris=("https://shop.example/r",), request_jwk=REQUEST_JWK,
            retention="  ",
        )  # fmt: skip
