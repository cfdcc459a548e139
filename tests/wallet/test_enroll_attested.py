"""The wallet against an issuer that requires key attestations (OpenID4VCI 1.0 Appendix D): enrollment end
to end with the TEST wallet provider attesting a software key store (netid/testing/wallet_provider.py, the
one mocked boundary), and the clear, early refusal when the key store cannot attest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from netid.credentials.jose import jwk_thumbprint
from netid.errors import EnrollmentError
from netid.testing.cards import make_card
from netid.testing.wallet_provider import TestWalletProvider
from netid.verifier import Query
from netid.wallet import SoftwareKeyStore
from netid.wallet.enroll import (
    KEY_ATTESTATION_REQUIRED,
    METADATA_PATH,
    EnrollmentResult,
    enroll,
    proof_type_for,
    refresh,
)
from netid.wallet.keystore import DeviceKeyStore
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    card_reader,
    context_of,
    holder_wallet,
    register_test_rp,
    row_counts,
    rp_verifier,
)
from tests.issuer.test_key_attestation import attested_issuer, running_issuer
from tests.issuer.test_oid4vci import claims_of


class Recording:
    """The issuer's client, recording what the wallet sent: ``(method, path, JSON body)``."""

    def __init__(self, client: httpx.Client, base: str) -> None:
        self.client = client
        self.base = base
        self.seen: list[tuple[str, str, Any]] = []

    def get(self, url: str, **kw: Any) -> httpx.Response:
        self.seen.append(("GET", url.removeprefix(self.base), None))
        return self.client.get(url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        self.seen.append(("POST", url.removeprefix(self.base), kw.get("json")))
        return self.client.post(url, **kw)

    def bodies(self, path: str) -> list[Any]:
        return [body for method, p, body in self.seen if method == "POST" and p == path]


def _enroll(
    issuer: InProcessIssuer, keystore: DeviceKeyStore, http: Recording, seed: int
) -> EnrollmentResult:
    card = make_card(seed, today=CARD_TODAY)
    return enroll(
        card_reader(card), card.access_key, issuer.settings.issuer_url, keystore=keystore,
        http=http,
        batch_size=4, clock=issuer.clock,
    )  # fmt: skip


def test_enrollment_end_to_end_with_the_test_wallet_provider(tmp_path: Path) -> None:
    provider = TestWalletProvider()
    with attested_issuer(tmp_path, provider) as issuer:
        url = issuer.settings.issuer_url
        store = provider.keystore()
        http = Recording(issuer.client, url)
        result = _enroll(issuer, store, http, seed=41)
        assert http.seen[0] == ("GET", METADATA_PATH, None)  # read before anything is sent
        (body,) = http.bodies("/credential")
        assert list(body["proofs"]) == ["attestation"] and len(body["proofs"]["attestation"]) == 1
        # four netcerts, each bound to its own key of this store
        bound = [jwk_thumbprint(claims_of(c)["cnf"]["jwk"]) for c in result.credentials]
        assert len(set(bound)) == 4 and all(key_id in store for key_id in bound)
        # and usable: an RP's verifier takes one
        rp = register_test_rp(context_of(issuer))
        wallet = holder_wallet(store, issuer.client, url)
        wallet.add_credentials(list(result.credentials))
        request = rp.request(Query(purpose="age check", age_over=18), now=issuer.clock())
        vp = wallet.present(request.to_uri(), now=issuer.clock(), consent=lambda p: True, amr="pin")
        assert rp_verifier(issuer.client, url, issuer.clock).verify(dict(vp.vp_token), request)["age_over_18"]
        # a refresh attests its fresh keys too
        batch = refresh(
            url, result.refresh_token, keystore=store, http=http, batch_size=2, clock=issuer.clock
        )
        assert len(batch.credentials) == 2
        assert list(http.bodies("/credential")[-1]["proofs"]) == ["attestation"]


def test_a_key_store_that_cannot_attest_fails_before_sending_anything(tmp_path: Path) -> None:
    provider = TestWalletProvider()
    with attested_issuer(tmp_path, provider) as issuer:
        engine = context_of(issuer).engine
        before = row_counts(engine)
        store = SoftwareKeyStore()
        http = Recording(issuer.client, issuer.settings.issuer_url)
        with pytest.raises(EnrollmentError) as caught:
            _enroll(issuer, store, http, seed=42)
        assert caught.value.code == KEY_ATTESTATION_REQUIRED == "key_attestation_required"
        assert "key attestation" in caught.value.message
        assert http.seen == [("GET", METADATA_PATH, None)]  # no enrollment started, no card evidence sent
        assert len(store) == 0 and row_counts(engine) == before

        # enrolled with an attesting store, a refresh with one that cannot attest keeps the refresh token
        attesting = provider.keystore()
        result = _enroll(issuer, attesting, Recording(issuer.client, issuer.settings.issuer_url), seed=43)
        http = Recording(issuer.client, issuer.settings.issuer_url)
        with pytest.raises(EnrollmentError) as caught:
            refresh(
                issuer.settings.issuer_url,
                result.refresh_token,
                keystore=store,
                http=http,
                clock=issuer.clock,
            )
        assert caught.value.code == KEY_ATTESTATION_REQUIRED and not http.bodies("/token")
        fresh = refresh(issuer.settings.issuer_url, result.refresh_token, keystore=attesting,
                        http=issuer.client, batch_size=1, clock=issuer.clock)  # fmt: skip
        assert len(fresh.credentials) == 1  # the refresh token was not spent by the refused attempt


def test_an_attesting_store_sends_plain_proofs_to_an_issuer_that_takes_no_attestation(tmp_path: Path) -> None:
    with running_issuer(tmp_path) as issuer:
        store = TestWalletProvider().keystore()
        http = Recording(issuer.client, issuer.settings.issuer_url)
        result = _enroll(issuer, store, http, seed=44)
        assert len(result.credentials) == 4
        (body,) = http.bodies("/credential")
        assert list(body["proofs"]) == ["jwt"] and len(body["proofs"]["jwt"]) == 4


# --- choosing the proof type from the metadata (no I/O) ------------------------------------------------

ISSUER = "https://issuer.example"
JWT = {"proof_signing_alg_values_supported": ["ES256"]}
REQUIRED = {"key_attestations_required": {"key_storage": ["iso_18045_high"]}}


def metadata(proof_types: object, issuer: str = ISSUER) -> dict[str, Any]:
    configurations = {"netcert": {"proof_types_supported": proof_types}}
    return {"credential_issuer": issuer, "credential_configurations_supported": configurations}


@pytest.mark.parametrize(
    ("types", "attesting", "expected"),
    [
        ({"jwt": JWT}, False, "jwt"),
        ({"jwt": JWT}, True, "jwt"),
        ({"jwt": JWT, "attestation": JWT}, True, "attestation"),
        ({"jwt": JWT, "attestation": JWT}, False, "jwt"),
        ({"jwt": JWT | REQUIRED, "attestation": JWT | REQUIRED}, True, "attestation"),
        ({"jwt": JWT | REQUIRED, "attestation": JWT | REQUIRED}, False, KEY_ATTESTATION_REQUIRED),
        ({"jwt": JWT | REQUIRED}, True, KEY_ATTESTATION_REQUIRED),  # only in a form this wallet does not send
        ({"attestation": JWT | {"key_attestations_required": {}}}, False, KEY_ATTESTATION_REQUIRED),
        ({"di_vp": JWT}, False, "protocol"),
        ({"jwt": JWT | {"key_attestations_required": {"key_storage": []}}}, True, "protocol"),
        ({"jwt": "ES256"}, False, "protocol"),
        ({}, False, "protocol"),
        (None, False, "protocol"),
    ],
)
def test_proof_type_for(types: object, attesting: bool, expected: str) -> None:
    store = TestWalletProvider().keystore() if attesting else SoftwareKeyStore()
    try:
        chosen = proof_type_for(metadata(types), "netcert", issuer_url=ISSUER, keystore=store)
    except EnrollmentError as exc:
        chosen = exc.code
    assert chosen == expected


@pytest.mark.parametrize(
    "document",
    [None, [], metadata({"jwt": JWT}, issuer="https://other.example"), {"credential_issuer": ISSUER}],
)
def test_metadata_that_is_not_this_issuers(document: object) -> None:
    with pytest.raises(EnrollmentError) as caught:
        proof_type_for(document, "netcert", issuer_url=ISSUER, keystore=SoftwareKeyStore())
    assert caught.value.code == "protocol"
    with pytest.raises(EnrollmentError):
        proof_type_for(metadata({"jwt": JWT}), "netcert_rp", issuer_url=ISSUER, keystore=SoftwareKeyStore())
