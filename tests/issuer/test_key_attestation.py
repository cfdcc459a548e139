"""Key attestations at the issuer (OpenID4VCI 1.0 Appendix D, ``key_attesters_path``): through the app,
in process. Required: plain proofs refused; a trusted attestation accepted, the credentials bound to
exactly the attested keys; every refusal with its code and nothing written. Not required: plain proofs as
before. The metadata says exactly what is configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from issuer_service.db.base import transaction
from issuer_service.db.tables import AuditEntry, IssuedCredential
from issuer_service.main import build_context, create_app
from issuer_service.services.trust import load_key_attestation_policy
from netid.credentials.jose import generate_signing_key, public_jwk, sign_jws
from netid.oid4vci.key_attestation import (
    ISO_18045_BASIC,
    ISO_18045_HIGH,
    ISO_18045_MODERATE,
    MAX_ATTESTATION_AGE,
)
from netid.oid4vci.proofs import PROOF_TYP
from netid.testing.wallet_provider import AttestedSoftwareKeyStore, TestWalletProvider
from netid.testing.world import NOW, TestClock
from netid.verifier import Query
from netid.wallet import SoftwareKeyStore
from netid.wallet.enroll import credential_request
from tests.issuer.conftest import (
    InProcessIssuer,
    context_of,
    holder_wallet,
    register_test_rp,
    rp_verifier,
    settings_for,
)
from tests.issuer.test_oid4vci import _no_issuance, ask, claims_of, nonce, proofs, tokens_for

#: what the attested issuer of these tests requires
REQUIRED = {"required_key_storage": (ISO_18045_HIGH,), "required_user_authentication": (ISO_18045_MODERATE,)}


@contextmanager
def running_issuer(tmp: Path, **overrides: Any) -> Iterator[InProcessIssuer]:
    """The issuer app in process with ``overrides`` on the test settings (on a TestClock at NOW)."""
    settings = settings_for(tmp, **overrides)
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock)
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as client:
        yield InProcessIssuer(client, settings, clock, tmp)


@contextmanager
def attested_issuer(tmp: Path, provider: TestWalletProvider, **overrides: Any) -> Iterator[InProcessIssuer]:
    """An issuer that trusts ``provider`` (its JWKS in ``key_attesters_path``) and requires key storage
    ``iso_18045_high`` and user authentication ``iso_18045_moderate`` unless ``overrides`` say otherwise."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = provider.write_jwks(tmp / "key-attesters.json")
    with running_issuer(tmp, key_attesters_path=path, **(REQUIRED | overrides)) as issuer:
        yield issuer


@pytest.fixture
def provider() -> TestWalletProvider:
    return TestWalletProvider()


@pytest.fixture
def attested(tmp_path: Path, provider: TestWalletProvider) -> Iterator[InProcessIssuer]:
    with attested_issuer(tmp_path, provider) as issuer:
        yield issuer


def new_keys(store: SoftwareKeyStore, count: int) -> list[str]:
    return [store.create_key("ES256") for _ in range(count)]


def attestation_request(store: AttestedSoftwareKeyStore, key_ids: list[str], c_nonce: str, now: int) -> Any:
    attestation = store.attest_keys(key_ids, nonce=c_nonce, now=now)
    return credential_request("netcert", [attestation], proof_type="attestation")


def bound_keys(response: Any) -> list[dict[str, str]]:
    """The ``cnf.jwk`` of every credential of a successful answer, in order."""
    assert response.status_code == 200, response.text
    return [claims_of(item["credential"])["cnf"]["jwk"] for item in response.json()["credentials"]]


def signed(
    provider: TestWalletProvider, jwks: list[dict[str, str]], c_nonce: str, now: int, **claims: Any
) -> str:
    """An attestation by ``provider``'s key with chosen claims (``None`` deletes one): what a misbehaving
    provider could sign."""
    payload: dict[str, Any] = {
        "iat": now, "exp": now + 300, "nonce": c_nonce, "attested_keys": jwks,
        "key_storage": [ISO_18045_HIGH], "user_authentication": [ISO_18045_MODERATE],
    }  # fmt: skip
    return provider.sign_claims({k: v for k, v in (payload | claims).items() if v is not None})


# --- metadata ---------------------------------------------------------------------------------------------


def _proof_types(issuer: InProcessIssuer) -> dict[str, Any]:
    metadata = issuer.client.get("/.well-known/openid-credential-issuer").json()
    configurations = metadata["credential_configurations_supported"]
    types: dict[str, Any] = configurations["netcert"]["proof_types_supported"]
    assert configurations["netcert_rp"]["proof_types_supported"] == types
    return types


def test_metadata_without_attestation_says_nothing_of_it(issuer: InProcessIssuer) -> None:
    assert _proof_types(issuer) == {"jwt": {"proof_signing_alg_values_supported": ["EdDSA", "ES256"]}}


def test_metadata_advertises_what_is_configured(attested: InProcessIssuer) -> None:
    required = {"key_storage": ["iso_18045_high"], "user_authentication": ["iso_18045_moderate"]}
    assert _proof_types(attested) == {
        "jwt": {
            "proof_signing_alg_values_supported": ["EdDSA", "ES256"],
            "key_attestations_required": required,
        },
        "attestation": {
            "proof_signing_alg_values_supported": ["ES256"],
            "key_attestations_required": required,
        },
    }


def test_metadata_with_attesters_and_no_levels(tmp_path: Path) -> None:
    ed = TestWalletProvider(alg="EdDSA")
    with attested_issuer(tmp_path, ed, required_key_storage=(), required_user_authentication=()) as issuer:
        types = _proof_types(issuer)
    # an attestation is needed, without further constraints (§12.2.4: the object is then empty)
    assert (
        types["jwt"]["key_attestations_required"] == {} == types["attestation"]["key_attestations_required"]
    )
    assert types["attestation"]["proof_signing_alg_values_supported"] == ["EdDSA"]


# --- required: what is accepted ------------------------------------------------------------------------


def test_a_trusted_attestation_binds_exactly_the_attested_keys(
    attested: InProcessIssuer, provider: TestWalletProvider
) -> None:
    _, tokens = tokens_for(attested)
    store = provider.keystore()
    key_ids = new_keys(store, 5)
    response = ask(
        attested, tokens.access_token, attestation_request(store, key_ids, nonce(attested), attested.clock())
    )
    assert response.headers["cache-control"] == "no-store"
    assert bound_keys(response) == [store.public_jwk(k) for k in key_ids]  # all of them, in order
    with transaction(context_of(attested).sessions) as session:
        assert len(session.scalars(select(IssuedCredential)).all()) == 5
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "issuance")).one()
        assert entry.details["attester"] == provider.kid and entry.details["key_storage"] == [ISO_18045_HIGH]
    # netcerts an RP's verifier accepts, presented with the attested keys
    wallet = holder_wallet(store, attested.client, attested.settings.issuer_url)
    wallet.add_credentials([item["credential"] for item in response.json()["credentials"]])
    rp = register_test_rp(context_of(attested))
    verifier = rp_verifier(attested.client, attested.settings.issuer_url, attested.clock)
    request = rp.request(Query(purpose="age check", age_over=18), now=attested.clock())
    vp = wallet.present(request.to_uri(), now=attested.clock(), consent=lambda p: True, amr="pin")
    assert verifier.verify(dict(vp.vp_token), request)["age_over_18"] is True


def test_a_jwt_proof_carrying_the_attestation(
    attested: InProcessIssuer, provider: TestWalletProvider
) -> None:
    """The other form of Appendix F: one jwt proof signed by an attested key, the attestation in its
    ``key_attestation`` header; the batch is every attested key."""
    _, tokens = tokens_for(attested)
    store = provider.keystore()
    device = generate_signing_key("ES256")
    key_ids = [store.import_key(device), *new_keys(store, 2)]
    c_nonce, now = nonce(attested), attested.clock()
    header = {
        "jwk": public_jwk(device),
        "key_attestation": store.attest_keys(key_ids, nonce=c_nonce, now=now),
    }
    claims = {"aud": attested.settings.issuer_url, "iat": now, "nonce": c_nonce}
    proof = sign_jws(claims, device, typ=PROOF_TYP, extra_headers=header)
    response = ask(attested, tokens.access_token, credential_request("netcert", [proof]))
    assert bound_keys(response) == [store.public_jwk(k) for k in key_ids]
    # signed by a key the attestation does not cover: refused, nothing written
    c_nonce = nonce(attested)
    header = {
        "jwk": public_jwk(device),
        "key_attestation": store.attest_keys(key_ids[1:], nonce=c_nonce, now=now),
    }
    stray = sign_jws(claims | {"nonce": c_nonce}, device, typ=PROOF_TYP, extra_headers=header)
    _no_issuance(attested, tokens.access_token, credential_request("netcert", [stray]), 400, "invalid_proof")


def test_the_rp_scoped_configuration_too(attested: InProcessIssuer, provider: TestWalletProvider) -> None:
    register_test_rp(context_of(attested))
    _, tokens = tokens_for(attested)
    store = provider.keystore()
    body = attestation_request(store, new_keys(store, 2), nonce(attested), attested.clock())
    body |= {"credential_configuration_id": "netcert_rp", "netid_rp": "shop.example"}
    assert len(bound_keys(ask(attested, tokens.access_token, body))) == 2


# --- required: what is refused, with nothing written -------------------------------------------------------


def test_plain_proofs_are_refused_and_the_nonce_survives(
    attested: InProcessIssuer, provider: TestWalletProvider
) -> None:
    _, tokens = tokens_for(attested)
    c_nonce = nonce(attested)
    plain = credential_request("netcert", proofs(attested, SoftwareKeyStore(), 2, nonce=c_nonce))
    body = _no_issuance(attested, tokens.access_token, plain, 400, "invalid_proof")
    assert "key attestation" in body["detail"]
    one = credential_request("netcert", proofs(attested, SoftwareKeyStore(), 1, nonce=c_nonce))
    _no_issuance(attested, tokens.access_token, one, 400, "invalid_proof")
    # the refusals wrote nothing, so the c_nonce was not used up either
    store = provider.keystore()
    body = attestation_request(store, new_keys(store, 1), c_nonce, attested.clock())
    assert len(bound_keys(ask(attested, tokens.access_token, body))) == 1


def test_refusals_each_with_its_code(attested: InProcessIssuer, provider: TestWalletProvider) -> None:
    issuer = attested
    _, tokens = tokens_for(issuer)
    token = tokens.access_token
    store = provider.keystore()
    batch = issuer.settings.batch_size

    def keys(count: int = 2) -> list[dict[str, str]]:
        return [store.public_jwk(k) for k in new_keys(store, count)]

    def refuse(make: Callable[[str, int], str], code: str) -> dict[str, Any]:
        """``make(c_nonce, now)`` is the attestation, for a fresh c_nonce: refused with ``code``."""
        body = credential_request("netcert", [make(nonce(issuer), issuer.clock())], proof_type="attestation")
        return _no_issuance(issuer, token, body, 400, code)

    # an attester the issuer does not trust: under its own kid, and under the trusted provider's kid
    for rogue in (TestWalletProvider(kid="rogue-provider"), TestWalletProvider(kid=provider.kid)):
        refuse(lambda c, now, rogue=rogue: rogue.attest(keys(), nonce=c, now=now), "invalid_proof")
    # key storage, or user authentication, weaker than required (or not stated)
    for weaker in ({"key_storage": [ISO_18045_MODERATE]}, {"user_authentication": [ISO_18045_BASIC]},
                   {"key_storage": None}):  # fmt: skip
        refuse(lambda c, now, w=weaker: signed(provider, keys(), c, now, **w), "invalid_proof")
    # the nonce: one never given out, none at all, and one already used by a successful request
    refuse(lambda c, now: provider.attest(keys(), nonce="A" * 43, now=now), "invalid_nonce")
    refuse(lambda c, now: provider.attest(keys(), nonce=None, now=now), "invalid_proof")
    used = nonce(issuer)
    assert (
        ask(issuer, token, attestation_request(store, new_keys(store, 1), used, issuer.clock())).status_code
        == 200
    )
    replayed = provider.attest(keys(), nonce=used, now=issuer.clock())
    _no_issuance(issuer, token, credential_request("netcert", [replayed], proof_type="attestation"), 400,
                 "invalid_nonce")  # fmt: skip
    # expired, and issued too long ago
    refuse(lambda c, now: signed(provider, keys(), c, now, iat=now - 200, exp=now - 100), "invalid_proof")
    refuse(lambda c, now: signed(provider, keys(), c, now, iat=now - MAX_ATTESTATION_AGE - 120, exp=now + 60),
           "invalid_proof")  # fmt: skip
    # a private key among the attested keys
    private = {**public_jwk(generate_signing_key("ES256")), "d": "A" * 43}
    body = refuse(lambda c, now: signed(provider, [*keys(1), private], c, now), "invalid_proof")
    assert "private" in body["detail"]
    # more keys than a batch, the same key twice, two attestations in one request
    refuse(lambda c, now: provider.attest(keys(batch + 1), nonce=c, now=now), "invalid_proof")
    refuse(lambda c, now: signed(provider, keys(1) * 2, c, now), "invalid_proof")
    c_nonce = nonce(issuer)
    two = [provider.attest(keys(), nonce=c_nonce, now=issuer.clock()) for _ in range(2)]
    _no_issuance(
        issuer, token, credential_request("netcert", two, proof_type="attestation"), 400, "invalid_proof"
    )


# --- not required ------------------------------------------------------------------------------------------


def test_not_required_plain_proofs_work_and_attestations_are_not_taken(
    issuer: InProcessIssuer, provider: TestWalletProvider
) -> None:
    _, tokens = tokens_for(issuer)
    plain = credential_request("netcert", proofs(issuer, SoftwareKeyStore(), 3))
    assert len(bound_keys(ask(issuer, tokens.access_token, plain))) == 3
    store = provider.keystore()
    body = attestation_request(store, new_keys(store, 1), nonce(issuer), issuer.clock())
    _no_issuance(issuer, tokens.access_token, body, 400, "invalid_credential_request")


# --- configuration ---------------------------------------------------------------------------------------


def test_levels_without_attesters_are_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key_attesters_path"):
        settings_for(tmp_path, required_key_storage=(ISO_18045_HIGH,))
    with pytest.raises(ValueError, match="distinct"):
        settings_for(tmp_path, key_attesters_path=tmp_path / "x.json", required_key_storage=("a", "a"))


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"keys": []}',
        '{"keys": [{"kty": "EC"}]}',
        '{"keys": [{"kty": "oct", "k": "AA", "kid": "x"}]}',
    ],
)
def test_a_bad_attesters_file_stops_the_issuer(tmp_path: Path, content: str) -> None:
    path = tmp_path / "attesters.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="key_attesters_path"):
        load_key_attestation_policy(settings_for(tmp_path, key_attesters_path=path))


def test_a_missing_attesters_file_stops_the_issuer(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_key_attestation_policy(settings_for(tmp_path, key_attesters_path=tmp_path / "missing.json"))
