"""OpenID4VCI 1.0 at the issuer: token (pre-authorized code, refresh rotation and reuse), nonce, credential
batches (key proofs, status entries, jitter, RP scope, refresh re-deriving ages)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select, update

from issuer_service.db.base import transaction
from issuer_service.db.tables import IssuedCredential, Nonce, RelyingParty
from issuer_service.services.issuance import jitter_days
from netid.card.icao.access import CanAccessKey
from netid.credentials.jose import decode_jws_unverified, generate_signing_key, public_jwk, sign_jws
from netid.credentials.netno import pairwise_subject
from netid.credentials.sdjwt.codec import Disclosure, split_sd_jwt
from netid.errors import UsageError
from netid.issuance import IssuerKeys, IssuerProfile, mint_netcert_batch
from netid.oid4vci.offer import PRE_AUTHORIZED_GRANT
from netid.oid4vci.proofs import MAX_PROOF_AGE, PROOF_TYP
from netid.personal_number import personal_number_check_char
from netid.testing.cards import TestCard, make_card, make_chip
from netid.testing.world import NOW, DetRng, test_person
from netid.verifier import Query
from netid.wallet import SoftwareKeyStore
from netid.wallet.enroll import (
    TokenSet,
    credential_request,
    key_proofs,
    parse_complete,
    parse_token,
    pre_authorized_form,
    refresh_form,
)
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    complete,
    context_of,
    evidence_for,
    holder_wallet,
    problem,
    register_test_rp,
    row_counts,
    rp_verifier,
)

DAY = 86_400
JWT = {"jwt": ["x"]}
INVALID = "invalid_credential_request"


def offer_for(issuer: InProcessIssuer, c: TestCard | None = None) -> tuple[str, dict[str, str]]:
    """Enroll a card up to the offer: ``(netno, the token request for its pre-authorized code)``."""
    challenge, sealed = evidence_for(issuer.client, c or make_card(31, today=CARD_TODAY), SoftwareKeyStore())
    netno, offer = parse_complete(
        complete(issuer.client, challenge.enrollment_id, sealed).json(), issuer_url=issuer.settings.issuer_url
    )
    return netno, pre_authorized_form(offer)


def tokens_for(issuer: InProcessIssuer, c: TestCard | None = None) -> tuple[str, TokenSet]:
    netno, form = offer_for(issuer, c)
    return netno, parse_token(issuer.client.post("/token", data=form).json())


def nonce(issuer: InProcessIssuer) -> str:
    value: str = issuer.client.post("/nonce").json()["c_nonce"]
    return value


def proofs(issuer: InProcessIssuer, keystore: SoftwareKeyStore, count: int, **kw: Any) -> list[str]:
    ids = [keystore.create_key("ES256") for _ in range(count)]
    return key_proofs(
        keystore,
        ids,
        audience=kw.get("audience", issuer.settings.issuer_url),
        nonce=kw.get("nonce") or nonce(issuer),
        now=kw.get("now", issuer.clock()),
    )


def ask(issuer: InProcessIssuer, token: str, body: Any) -> Any:
    return issuer.client.post("/credential", json=body, headers={"Authorization": f"Bearer {token}"})


def claims_of(credential: str) -> dict[str, Any]:
    """The issuer-signed payload plus every disclosed claim (the wallet's own view)."""
    parts = split_sd_jwt(credential)
    _, payload, _, _ = decode_jws_unverified(parts.issuer_jwt)
    for encoded in parts.disclosures:
        d = Disclosure.parse(encoded)
        assert d.name is not None
        payload[d.name] = d.value
    return payload


# --- token ------------------------------------------------------------------------------------------------


def test_token_redeems_the_pre_authorized_code_once(issuer: InProcessIssuer) -> None:
    _, form = offer_for(issuer)
    response = issuer.client.post("/token", data=form)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == issuer.settings.access_token_ttl
    assert body["access_token"] != body["refresh_token"]
    again = problem(issuer.client.post("/token", data=form), 400, "invalid_grant")
    assert again["error"] == "invalid_grant"  # an OAuth error response a standard wallet reads


def test_an_expired_offer_is_refused(issuer: InProcessIssuer) -> None:
    _, form = offer_for(issuer)
    issuer.clock.advance(issuer.settings.offer_ttl)
    problem(issuer.client.post("/token", data=form), 400, "invalid_grant")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": PRE_AUTHORIZED_GRANT}, "invalid_request"),
        ({"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": "nope"}, "invalid_grant"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
    ],
)  # fmt: skip
def test_token_errors(issuer: InProcessIssuer, data: dict[str, str], code: str) -> None:
    body = problem(issuer.client.post("/token", data=data), 400, code)
    assert body["error"] == code


def test_token_request_must_be_a_form(issuer: InProcessIssuer) -> None:
    _, form = offer_for(issuer)
    problem(issuer.client.post("/token", json=form), 400, "invalid_request")
    repeated = "grant_type=refresh_token&grant_type=refresh_token&refresh_token=x"
    problem(
        issuer.client.post(
            "/token", content=repeated, headers={"content-type": "application/x-www-form-urlencoded"}
        ),
        400,
        "invalid_request",
    )
    # still redeemable: the refused requests did not touch the code
    assert issuer.client.post("/token", data=form).status_code == 200


def test_refresh_tokens_rotate_and_reuse_revokes_the_device_tokens(issuer: InProcessIssuer) -> None:
    _, first = tokens_for(issuer)
    second = parse_token(issuer.client.post("/token", data=refresh_form(first.refresh_token)).json())
    assert second.refresh_token != first.refresh_token
    keystore = SoftwareKeyStore()
    body = credential_request("netcert", proofs(issuer, keystore, 1))
    assert ask(issuer, second.access_token, body).status_code == 200
    # the first refresh token comes back (a copy): refused, and the device's current tokens die with it
    problem(issuer.client.post("/token", data=refresh_form(first.refresh_token)), 400, "invalid_grant")
    problem(
        ask(issuer, second.access_token, credential_request("netcert", proofs(issuer, keystore, 1))),
        401,
        "invalid_token",
    )
    problem(issuer.client.post("/token", data=refresh_form(second.refresh_token)), 400, "invalid_grant")


def test_access_tokens_expire(issuer: InProcessIssuer) -> None:
    _, tokens = tokens_for(issuer)
    issuer.clock.advance(issuer.settings.access_token_ttl)
    response = ask(
        issuer, tokens.access_token, credential_request("netcert", proofs(issuer, SoftwareKeyStore(), 1))
    )
    problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith("Bearer")


# --- nonce ------------------------------------------------------------------------------------------------


def test_nonces_are_fresh_and_not_cached(issuer: InProcessIssuer) -> None:
    a, b = issuer.client.post("/nonce"), issuer.client.post("/nonce")
    assert a.headers["cache-control"] == "no-store"
    assert a.json()["c_nonce"] != b.json()["c_nonce"] and len(a.json()["c_nonce"]) >= 32
    with transaction(context_of(issuer).sessions) as session:
        stored = {n.nonce_hash for n in session.scalars(select(Nonce))}
    assert a.json()["c_nonce"] not in stored  # only hashes


# --- credential -------------------------------------------------------------------------------------------


def test_a_batch_of_30(issuer: InProcessIssuer) -> None:
    _, tokens = tokens_for(issuer)
    keystore = SoftwareKeyStore()
    response = ask(issuer, tokens.access_token, credential_request("netcert", proofs(issuer, keystore, 30)))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    credentials = [item["credential"] for item in response.json()["credentials"]]
    assert len(credentials) == 30 == len(set(credentials))
    payloads = [claims_of(c) for c in credentials]
    base = issuer.clock() - issuer.clock() % DAY
    offsets = [(base - p["iat"]) // DAY for p in payloads]
    assert set(offsets) <= set(range(issuer.settings.validity_jitter_days + 1))
    assert len(set(offsets)) > 1  # independent draws (all equal: probability 4 * 4^-30)
    assert all(p["exp"] - p["iat"] == issuer.settings.netcert_validity_days * DAY for p in payloads)
    refs = [(p["status"]["status_list"]["uri"], p["status"]["status_list"]["idx"]) for p in payloads]
    assert len(set(refs)) == 30
    assert len({uri for uri, _ in refs}) > 1  # lists chosen independently per credential
    assert all("sub" not in p and "netno" not in p for p in payloads)
    assert len({p["cnf"]["jwk"]["x"] for p in payloads}) == 30
    with transaction(context_of(issuer).sessions) as session:
        rows = session.scalars(select(IssuedCredential)).all()
        assert sorted((f"{issuer.settings.issuer_url}/status/{r.list_id}", r.idx) for r in rows) == sorted(
            refs
        )
        assert sorted((r.iat, r.exp) for r in rows) == sorted((p["iat"], p["exp"]) for p in payloads)
        assert {r.configuration_id for r in rows} == {"netcert"}
    # every one of them is a netcert an RP's verifier accepts
    wallet = holder_wallet(keystore, issuer.client, issuer.settings.issuer_url)
    wallet.add_credentials(credentials)
    rp = register_test_rp(context_of(issuer))
    verifier = rp_verifier(issuer.client, issuer.settings.issuer_url, issuer.clock)
    for _ in range(30):
        request = rp.request(Query(purpose="age check", age_over=18), now=issuer.clock())
        vp = wallet.present(request.to_uri(), now=issuer.clock(), consent=lambda p: True, amr="pin")
        assert verifier.verify(dict(vp.vp_token), request)["age_over_18"] is True
    assert not wallet.unused()


def _no_issuance(issuer: InProcessIssuer, token: str, body: Any, status: int, code: str) -> dict[str, Any]:
    engine = context_of(issuer).engine
    before = row_counts(engine)
    result = problem(ask(issuer, token, body), status, code)
    assert row_counts(engine) == before
    return result


def test_wrong_key_proofs(issuer: InProcessIssuer) -> None:
    _, tokens = tokens_for(issuer)
    token = tokens.access_token
    keystore = SoftwareKeyStore()
    now = issuer.clock()

    def batch(items: list[str]) -> dict[str, Any]:
        return credential_request("netcert", items)

    # signed by another key than the one in its jwk header
    c = nonce(issuer)
    mine, other = generate_signing_key("ES256"), generate_signing_key("ES256")
    forged = sign_jws({"aud": issuer.settings.issuer_url, "iat": now, "nonce": c}, other, typ=PROOF_TYP,
                      extra_headers={"jwk": public_jwk(mine)})  # fmt: skip
    _no_issuance(issuer, token, batch([forged]), 400, "invalid_proof")
    # for another credential issuer
    _no_issuance(
        issuer,
        token,
        batch(proofs(issuer, keystore, 2, audience="https://other.example")),
        400,
        "invalid_proof",
    )
    # stale, and from the future
    stale = proofs(issuer, keystore, 1, now=now - MAX_PROOF_AGE - 120)
    _no_issuance(issuer, token, batch(stale), 400, "invalid_proof")
    _no_issuance(issuer, token, batch(proofs(issuer, keystore, 1, now=now + 600)), 400, "invalid_proof")
    # a nonce the issuer never gave out
    _no_issuance(issuer, token, batch(proofs(issuer, keystore, 2, nonce="A" * 43)), 400, "invalid_nonce")
    # two nonces in one request
    mixed = proofs(issuer, keystore, 1) + proofs(issuer, keystore, 1)
    _no_issuance(issuer, token, batch(mixed), 400, "invalid_nonce")
    # the same key twice
    c = nonce(issuer)
    key_id = keystore.create_key("ES256")
    twice = key_proofs(keystore, [key_id, key_id], audience=issuer.settings.issuer_url, nonce=c, now=now)
    body = _no_issuance(issuer, token, batch(twice), 400, "invalid_proof")
    assert "same key" in body["detail"]
    # wrong typ
    c = nonce(issuer)
    claims = {"aud": issuer.settings.issuer_url, "iat": now, "nonce": c}
    wrong_typ = keystore.sign_jwt(key_id, claims, typ="JWT", include_jwk=True)
    _no_issuance(issuer, token, batch([wrong_typ]), 400, "invalid_proof")
    # more than batch_size
    _no_issuance(issuer, token, batch(proofs(issuer, keystore, issuer.settings.batch_size + 1)), 400,
                 "invalid_credential_request")  # fmt: skip
    _no_issuance(issuer, token, batch([]), 400, "invalid_credential_request")
    _no_issuance(issuer, token, batch(["not a jwt"]), 400, "invalid_proof")


def test_a_c_nonce_is_single_use_and_expires(issuer: InProcessIssuer) -> None:
    _, tokens = tokens_for(issuer)
    keystore = SoftwareKeyStore()
    c = nonce(issuer)
    first = proofs(issuer, keystore, 1, nonce=c)
    assert ask(issuer, tokens.access_token, credential_request("netcert", first)).status_code == 200
    again = credential_request("netcert", proofs(issuer, keystore, 1, nonce=c))
    _no_issuance(issuer, tokens.access_token, again, 400, "invalid_nonce")
    c = nonce(issuer)
    issuer.clock.advance(issuer.settings.c_nonce_ttl)
    late = proofs(issuer, keystore, 1, nonce=c)
    _, fresh = tokens_for(issuer, make_card(32, today=CARD_TODAY))
    _no_issuance(issuer, fresh.access_token, credential_request("netcert", late), 400, "invalid_nonce")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([], "invalid_credential_request"),
        ({"proofs": {"jwt": ["x"]}}, "invalid_credential_request"),
        ({"credential_configuration_id": "passport", "proofs": JWT}, "unknown_credential_configuration"),
        ({"credential_configuration_id": "netcert", "proof": {"proof_type": "jwt", "jwt": "x"}},
         "invalid_credential_request"),
        ({"credential_configuration_id": "netcert", "proofs": {"jwt": "x"}}, "invalid_credential_request"),
        ({"credential_configuration_id": "netcert", "proofs": {"attestation": ["x"]}}, INVALID),
        ({"credential_configuration_id": "netcert_rp", "proofs": JWT}, INVALID),
        ({"credential_configuration_id": "netcert", "proofs": {"jwt": ["x"]}, "netid_rp": "shop.example"},
         "invalid_credential_request"),
    ],
)  # fmt: skip
def test_malformed_credential_requests(issuer: InProcessIssuer, body: Any, code: str) -> None:
    _, tokens = tokens_for(issuer)
    _no_issuance(issuer, tokens.access_token, body, 400, code)


def test_credential_needs_a_bearer_token(issuer: InProcessIssuer) -> None:
    body = credential_request("netcert", ["x"])
    problem(issuer.client.post("/credential", json=body), 401, "invalid_token")
    problem(ask(issuer, "not-a-token", body), 401, "invalid_token")
    response = issuer.client.post(
        "/credential",
        content=b"{not json",
        headers={"Authorization": "Bearer nope", "content-type": "application/json"},
    )
    problem(response, 401, "invalid_token")  # the token is checked before the body


def test_non_json_credential_request(issuer: InProcessIssuer) -> None:
    _, tokens = tokens_for(issuer)
    response = issuer.client.post(
        "/credential",
        content=b"{not json",
        headers={"Authorization": f"Bearer {tokens.access_token}", "content-type": "application/json"},
    )
    problem(response, 400, "invalid_credential_request")


# --- RP-scoped batches ------------------------------------------------------------------------------------


def test_rp_scoped_batches(issuer: InProcessIssuer) -> None:
    context = context_of(issuer)
    register_test_rp(context, rp_id="shop.example", sector="shop.example")
    register_test_rp(context, rp_id="bank.example", sector="bank.example", netno_allowed=True)
    register_test_rp(context, rp_id="gone.example", sector="gone.example", state="suspended")
    netno, tokens = tokens_for(issuer)
    keystore = SoftwareKeyStore()
    pairwise = context.keystore.secret("pairwise")

    def batch(rp_id: str, count: int = 2) -> list[dict[str, Any]]:
        r = ask(
            issuer,
            tokens.access_token,
            credential_request("netcert_rp", proofs(issuer, keystore, count), rp_id=rp_id),
        )
        assert r.status_code == 200, r.text
        return [claims_of(item["credential"]) for item in r.json()["credentials"]]

    shop = batch("shop.example") + batch("shop.example")
    assert {p["sub"] for p in shop} == {
        pairwise_subject(netno, "shop.example", pairwise)
    }  # stable per sector
    assert {p["sector"] for p in shop} == {"shop.example"} and all("netno" not in p for p in shop)
    bank = batch("bank.example")
    assert {p["sub"] for p in bank} == {pairwise_subject(netno, "bank.example", pairwise)}
    assert {p["netno"] for p in bank} == {netno}  # only for an RP authorised for real-name registration
    for rp_id in ("gone.example", "nobody.example"):
        body = credential_request("netcert_rp", proofs(issuer, keystore, 1), rp_id=rp_id)
        _no_issuance(issuer, tokens.access_token, body, 400, "invalid_credential_request")
    with transaction(context.sessions) as session:
        session.execute(
            update(RelyingParty).where(RelyingParty.rp_id == "shop.example").values(state="revoked")
        )
    body = credential_request("netcert_rp", proofs(issuer, keystore, 1), rp_id="shop.example")
    _no_issuance(issuer, tokens.access_token, body, 400, "invalid_credential_request")
    with transaction(context.sessions) as session:
        rows = session.scalars(select(IssuedCredential)).all()
        assert Counter(r.rp_id for r in rows) == {"shop.example": 4, "bank.example": 2}


# --- refresh: a fresh batch without a card read, ages re-derived -----------------------------------------


def card_born(seed: int, born: dt.date) -> TestCard:
    """A test card for a person born on ``born`` (the personal number agrees)."""
    base = make_card(seed, today=CARD_TODAY)
    first17 = base.person.personal_number[:6] + born.strftime("%Y%m%d") + base.person.personal_number[14:17]
    person = dataclasses.replace(
        base.person, date_of_birth=born, personal_number=first17 + personal_number_check_char(first17)
    )
    image = make_chip(person, base.pki)
    return TestCard(person, base.pki, image, person.access_key, CanAccessKey(person.can), base.trust_store)


def test_refresh_re_derives_age_predicates(issuer: InProcessIssuer) -> None:
    """A person turns 18 in ten days: today's batch says not (yet) proven; a batch fetched with the
    refresh token after the birthday (and the jitter) says true — no card read in between."""
    birthday = CARD_TODAY + dt.timedelta(days=10)
    born = birthday.replace(year=birthday.year - 18)
    _, tokens = tokens_for(issuer, card_born(33, born))
    keystore = SoftwareKeyStore()
    r = ask(issuer, tokens.access_token, credential_request("netcert", proofs(issuer, keystore, 4)))
    assert {claims_of(i["credential"])["age_over_18"] for i in r.json()["credentials"]} == {False}
    issuer.clock.advance((10 + issuer.settings.validity_jitter_days + 2) * DAY)
    fresh = parse_token(issuer.client.post("/token", data=refresh_form(tokens.refresh_token)).json())
    r = ask(issuer, fresh.access_token, credential_request("netcert", proofs(issuer, keystore, 4)))
    assert r.status_code == 200, r.text
    assert {claims_of(i["credential"])["age_over_18"] for i in r.json()["credentials"]} == {True}


def test_jitter_days_are_uniform_and_bounded() -> None:
    draws = jitter_days(DetRng("jitter"), 40_000, 3)
    counts = Counter(draws)
    assert set(counts) == {0, 1, 2, 3}
    assert all(abs(n - 10_000) < 500 for n in counts.values())
    assert jitter_days(DetRng("x"), 5, 0) == [0] * 5


def test_day_offsets_move_each_window_and_its_predicates() -> None:
    """netid.issuance.mint_netcert_batch(day_offsets=…): each credential's own window, own predicates."""
    now = NOW
    birthday = dt.datetime.fromtimestamp(now, dt.UTC).date() + dt.timedelta(days=1)  # 18 tomorrow
    person = dataclasses.replace(test_person(age=18), date_of_birth=birthday.replace(year=birthday.year - 18))
    profile = IssuerProfile("https://issuer.example", IssuerKeys.generate())
    keys = [public_jwk(generate_signing_key("ES256")) for _ in range(3)]
    status = [("https://issuer.example/status/1", i) for i in (5, 9, 13)]
    creds = mint_netcert_batch(person, profile=profile, holder_jwks=keys, status=status, now=now,
                               rng=DetRng("offsets"), day_offsets=[0, 1, 3])  # fmt: skip
    payloads = [claims_of(c) for c in creds]
    base = now - now % DAY
    assert [p["iat"] for p in payloads] == [base, base - DAY, base - 3 * DAY]
    assert all(p["exp"] - p["iat"] == 30 * DAY for p in payloads)
    assert [p["age_over_18"] for p in payloads] == [False, False, False]
    # five days on: proven where the window opens (less a day, for every time zone) on the birthday or later
    later = mint_netcert_batch(person, profile=profile, holder_jwks=keys, status=status, now=now + 5 * DAY,
                               rng=DetRng("offsets"), day_offsets=[0, 3, 4])  # fmt: skip
    assert [claims_of(c)["age_over_18"] for c in later] == [True, True, False]
    for bad in ([0, 1], [0, -1, 2], [0, 1.0, 2]):
        with pytest.raises(UsageError):
            mint_netcert_batch(person, profile=profile, holder_jwks=keys, status=status, now=now,
                               rng=DetRng("x"), day_offsets=bad)  # type: ignore[arg-type]  # fmt: skip
