"""End to end through real servers on 127.0.0.1: a live issuer (uvicorn, SQLite) registers the RP over its
admin API; the RP is a minimal FastAPI app mounting netid_router on a real uvicorn; a simulated card
enrolls a wallet over HTTP; the wallet fetches each request by request_uri and answers with direct_post
and direct_post.jwt; the RP's transactions hold the right answers; and every way to get it wrong is a
clear problem that changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from netid.credentials.jose import public_jwk
from netid.credentials.status_source import CachedStatusLists
from netid.credentials.trust import IssuerTrust
from netid.testing.cards import make_card
from netid.testing.world import fixed_key
from netid.verifier import Query
from netid.verifier.http import RelyingParty, TransactionStatus, netid_router
from netid.verifier.remote import HttpJwksFetcher, HttpStatusFetcher, verifier_for_issuer
from netid.wallet import SoftwareKeyStore, Wallet
from netid.wallet.enroll import enroll
from tests.issuer.conftest import (
    ADMIN_TOKENS,
    LiveIssuer,
    card_reader,
    free_port,
    live_output,
    start_live_issuer,
    stop_live_issuer,
)
from tests.wallet.http_kit import LiveServer

pytestmark = pytest.mark.slow

S = TransactionStatus
AGE = Query(purpose="age check", age_over=18, doc_valid=True)


class OffsetClock:
    """The real clock, which the test can move forward (to expire a transaction)."""

    def __init__(self) -> None:
        self.offset = 0

    def __call__(self) -> int:
        return int(time.time()) + self.offset


@dataclass
class Stack:
    issuer: LiveIssuer
    rp: RelyingParty
    clock: OffsetClock
    http: httpx.Client
    wallet: Wallet

    def answer(self, qr_text: str) -> Any:
        return self.wallet.present(
            qr_text,
            now=int(time.time()),
            consent=lambda prompt: True,
            amr="pin",
            fetch=lambda uri: self.http.get(uri).raise_for_status().text,
        )


def _register(issuer_url: str, rp_base: str, key: Any) -> str:
    body = {
        "rp_id": "shop.example",
        "name": "示例商城 Example Shop",
        "sector": "shop.example",
        "allowed_predicates": ["age_over_18", "doc_valid", "name_equals", "subject"],
        "purposes": ["age check", "sign in"],
        "response_uris": [f"{rp_base}/netid/response/"],  # one response URI per transaction
        "request_jwk": public_jwk(key),
        "processor": "Example Shop Co., Ltd.",
        "contact": "privacy@shop.example",
        "retention": "30 days",
    }
    headers = {"Authorization": f"Bearer {ADMIN_TOKENS['alice']}"}
    response = httpx.post(f"{issuer_url}/admin/rps", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    certificate: str = response.json()["certificate"]
    return certificate


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    issuer = start_live_issuer(tmp_path)
    live_rp: LiveServer | None = None
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        key, encryption_key = fixed_key("ES256", "e2e-rp"), fixed_key("ES256", "e2e-rp-encryption")
        certificate = _register(issuer.url, base, key)
        clock = OffsetClock()
        rp = RelyingParty(
            base_url=base,
            signing_key=key,
            certificate=certificate,
            encryption_key=encryption_key,  # type: ignore[arg-type]  # a P-256 key
            verifier=verifier_for_issuer(issuer.url, clock=clock),
            clock=clock,
        )
        app = FastAPI()
        app.include_router(netid_router(rp))
        live_rp = LiveServer(app, port)
        with httpx.Client(timeout=30) as http:
            card = make_card(61)
            keystore = SoftwareKeyStore()
            enrolled = enroll(card_reader(card), card.access_key, issuer.url, keystore=keystore, http=http,
                              batch_size=8)  # fmt: skip
            # the wallet trusts the issuer's published keys and checks the RP's status, over HTTP too
            trust = IssuerTrust(issuer=issuer.url, fetch=HttpJwksFetcher(issuer.url), clock=clock)
            rp_status = CachedStatusLists(HttpStatusFetcher(), trust, clock=clock)
            wallet = Wallet(keystore, trust, rp_status=rp_status, allow_loopback_http=True)
            wallet.add_credentials(enrolled.credentials)
            yield Stack(issuer, rp, clock, http, wallet)
    finally:
        if live_rp is not None:
            live_rp.stop()
        assert stop_live_issuer(issuer) == 0, live_output(issuer)


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def _status(stack: Stack, tx_id: str) -> S:
    tx = stack.rp.transaction(tx_id)
    assert tx is not None
    return tx.status


def test_sign_in_over_real_http(stack: Stack) -> None:
    http, rp = stack.http, stack.rp
    for mode in ("direct_post.jwt", "direct_post"):
        tx = rp.start(AGE, response_mode=mode)
        assert tx.request_uri.startswith("http://127.0.0.1:")
        started = time.perf_counter()
        response = stack.answer(tx.qr_text)
        form = response.form()
        assert set(form) == ({"response"} if mode == "direct_post.jwt" else {"vp_token", "state"})
        posted = http.post(response.response_uri, data=form)
        elapsed = time.perf_counter() - started
        assert posted.status_code == 200 and posted.json() == {}, posted.text
        result = rp.result(tx.id)
        assert result is not None and result.status is S.ANSWERED and result.answers is not None
        assert dict(result.answers.predicates) == {"age_over_18": True, "doc_valid": True}
        assert result.answers.assurance.chip_auth == "aa"
        polled = http.get(f"{rp.base_url}/netid/transactions/{tx.id}").json()
        assert polled["status"] == "answered"
        stored = rp.transaction(tx.id)
        assert stored is not None
        assert [e.message for e in stored.events] == [
            f"created ({mode})", "request fetched", "response posted", "answered",
        ]  # fmt: skip
        print(f"{mode}: fetch request, present, post, verify: {elapsed * 1000:.0f} ms")

        # the replayed response: refused, and the transaction is not answered again
        _problem(http.post(response.response_uri, data=form), 409, "already_answered")
        assert rp.result(tx.id) == result


def test_refusals_over_real_http(stack: Stack) -> None:
    http, rp = stack.http, stack.rp

    # an expired transaction
    tx = rp.start(AGE)
    response = stack.answer(tx.qr_text)
    stack.clock.offset = tx.expires_at - int(time.time()) + 1
    _problem(http.post(response.response_uri, data=response.form()), 410, "transaction_expired")
    stack.clock.offset = 0
    assert _status(stack, tx.id) is S.FETCHED

    # a wrong state, then the right one
    tx = rp.start(AGE, response_mode="direct_post")
    response = stack.answer(tx.qr_text)
    _problem(
        http.post(response.response_uri, data=response.form() | {"state": "W" * 22}), 400, "state_mismatch"
    )
    assert _status(stack, tx.id) is S.FETCHED

    # another transaction's id in the path, and an id that does not exist
    other = rp.start(AGE, response_mode="direct_post")
    _problem(
        http.post(f"{rp.base_url}/netid/response/{other.id}", data=response.form()), 400, "state_mismatch"
    )
    _problem(
        http.post(f"{rp.base_url}/netid/response/{'N' * 22}", data=response.form()),
        404,
        "unknown_transaction",
    )
    _problem(http.get(f"{rp.base_url}/netid/request/{'N' * 22}"), 404, "unknown_transaction")
    assert _status(stack, other.id) is S.PENDING

    # an oversized body, with and without a Content-Length
    big = {"vp_token": "x" * (rp.max_body_bytes + 10), "state": tx.state}
    _problem(http.post(response.response_uri, data=big), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:
        for _ in range(rp.max_body_bytes // 8192 + 2):
            yield b"x" * 8192

    headers = {"content-type": "application/x-www-form-urlencoded"}
    _problem(http.post(response.response_uri, content=chunks(), headers=headers), 413, "body_too_large")
    assert _status(stack, tx.id) is S.FETCHED

    # none of that stopped the real answer
    assert http.post(response.response_uri, data=response.form()).json() == {}
    result = rp.result(tx.id)
    assert result is not None and result.answers is not None and result.answers["age_over_18"] is True
    stored = rp.transaction(tx.id)
    assert stored is not None
    assert [e.message for e in stored.events] == [
        "created (direct_post)",
        "request fetched",
        "response refused: state_mismatch",
        "response refused: body_too_large",
        "response refused: body_too_large",
        "response posted",
        "answered",
    ]
