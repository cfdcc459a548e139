"""The shop's parts on their own: the session cookie, the settings, the registration file, and the
registration with a real issuer's admin API (in process)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from netid.oid4vp.certificate import RpCertificate, parse_rp_certificate
from netid.testing.world import TestClock
from netid.verifier.http import RelyingParty
from netid.verifier.remote import verifier_for_issuer
from relying_party_example.__main__ import main as shop_main
from relying_party_example.register import (
    PURPOSES,
    SHOP_PREDICATES,
    RegistrationError,
    ShopRegistration,
    register,
    response_uri_prefix,
)
from relying_party_example.session import NameCheck, PendingCheck, SessionCodec, ShopSession
from relying_party_example.settings import SettingsError, ShopSettings
from tests.issuer.conftest import ADMIN_TOKENS, InProcessIssuer, issuer  # noqa: F401 - the fixture

SECRET = b"TEST ONLY session secret, 32 bytes or more"


def test_the_session_round_trips_and_refuses_forgeries() -> None:
    clock = TestClock(1_800_000_000)
    codec = SessionCodec(SECRET, max_age=600, clock=clock)
    session = ShopSession(
        subject="S" * 43,
        assurance={"level": "substantial", "chip_auth": "aa", "mode": "pin"},
        doc_valid=True,
        age_over_18=False,
        name_check=NameCheck("张三", True),
        pending=PendingCheck("name", "A" * 22, "B" * 22, "张三"),
    )
    value = codec.dumps(session)
    loaded = codec.loads(value)
    assert loaded.issued_at == clock() and loaded.subject == session.subject
    assert (loaded.doc_valid, loaded.age_over_18, loaded.name_check, loaded.pending) == (
        True, False, session.name_check, session.pending,
    )  # fmt: skip
    other = SessionCodec(b"another TEST ONLY secret of 32+ bytes", max_age=600, clock=clock)
    assert other.loads(value) == ShopSession()  # another key: not ours
    payload, mac = value.split(".")
    tampered = json.loads(_unb64(payload)) | {"a18": True}
    assert codec.loads(f"{_b64(json.dumps(tampered).encode())}.{mac}") == ShopSession()
    for junk in (None, "", "a.b.c", "é.é", "x" * 5000, f"{payload}."):
        assert codec.loads(junk) == ShopSession()
    clock.advance(601)
    assert codec.loads(value) == ShopSession()  # too old


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_settings_from_the_environment() -> None:
    settings = ShopSettings.from_env(
        {
            "NETID_SHOP_RP_FILE": "/tmp/x.json",
            "NETID_SHOP_PORT": "8123",
            "NETID_SHOP_SESSION_SECRET": SECRET.decode(),
            "NETID_SHOP_DATABASE_URL": "sqlite:///shop.db",
        }
    )
    assert settings.rp_file == Path("/tmp/x.json") and settings.port == 8123
    assert settings.session_secret == SECRET and not settings.ephemeral_secret
    assert SECRET.decode() not in repr(settings)
    assert ShopSettings.from_env({}).ephemeral_secret
    for bad in ({"NETID_SHOP_SESSION_SECRET": "short"}, {"NETID_SHOP_PORT": "http"},
                {"NETID_SHOP_BASE_URL": "https://shop.example/"}, {"NETID_SHOP_PORT": "70000"}):  # fmt: skip
        with pytest.raises(SettingsError):
            ShopSettings.from_env(bad)


def test_registration_with_the_issuer(issuer: InProcessIssuer, tmp_path: Path) -> None:  # noqa: F811
    base = "https://shop.example"
    registration = register(
        issuer_url=issuer.settings.issuer_url, admin_token=ADMIN_TOKENS["alice"], base_url=base,
        http=issuer.client,
    )  # fmt: skip
    from netid.credentials.trust import IssuerTrust

    trust = IssuerTrust(issuer.client.get("/jwks.json").json(), issuer=issuer.settings.issuer_url)
    cert: RpCertificate = parse_rp_certificate(registration.certificate, trust, issuer.clock())
    assert cert.rp_id == cert.sector == "shop.example"
    assert cert.allowed_predicates == SHOP_PREDICATES
    assert set(cert.purposes) == set(PURPOSES.values())
    assert cert.response_uris == (response_uri_prefix(base),) == ("https://shop.example/netid/response/",)

    path = registration.save(tmp_path / "keys" / "shop-rp.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = ShopRegistration.load(path)
    assert loaded.certificate == registration.certificate and loaded.base_url == base
    assert loaded.signing_key.private_numbers() == registration.signing_key.private_numbers()
    assert "PRIVATE" not in repr(loaded)
    # what the shop builds from it: one response URI per transaction
    rp = RelyingParty(base_url=base, signing_key=loaded.signing_key, certificate=loaded.certificate,
                      encryption_key=loaded.encryption_key,
                      verifier=verifier_for_issuer(issuer.settings.issuer_url))  # fmt: skip
    assert rp.per_transaction and rp.response_mode == "direct_post.jwt"

    with pytest.raises(RegistrationError) as refused:
        register(issuer_url=issuer.settings.issuer_url, admin_token="TEST-wrong-token-0123456789",
                 base_url=base, rp_id="other.example", http=issuer.client)  # fmt: skip
    assert refused.value.status == 401


def test_a_broken_registration_file_is_refused(tmp_path: Path) -> None:
    for content in ("", "{}", '{"version": 1}', "[1]"):
        (tmp_path / "rp.json").write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=r"rp\.json"):
            ShopRegistration.load(tmp_path / "rp.json")
    with pytest.raises(ValueError, match="cannot read"):
        ShopRegistration.load(tmp_path / "missing.json")


def test_the_command_needs_an_admin_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NETID_ISSUER_ADMIN_TOKEN", raising=False)
    assert shop_main(["register", "--issuer", "http://127.0.0.1:9"]) == 2
    assert "admin-token" in capsys.readouterr().err
    monkeypatch.setenv("NETID_ISSUER_ADMIN_TOKEN", "TEST-token")
    assert shop_main(["register", "--issuer", "http://127.0.0.1:9", "--out", "/nonexistent/x"]) == 3
    assert "transport" in capsys.readouterr().err
