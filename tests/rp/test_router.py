"""The RP's endpoints through FastAPI's TestClient, with the test world's wallet answering: the request by
request_uri, direct_post and direct_post.jwt responses, the JSON the wallet gets, and every refusal as a
problem that changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from netid.errors import UsageError
from netid.oid4vp.request import open_request
from netid.verifier import Query
from netid.verifier.http import RelyingParty, SqlTransactionStore, TransactionStatus
from netid.verifier.http.router import REQUEST_MEDIA_TYPE
from tests.rp.kit import AGE, BASE, PREFIX_URI, RpWorld, answer, make_rp_world

S = TransactionStatus


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["type"] == f"/problems/{code}" and body["status"] == status
    return body


def unchanged(w: RpWorld, tx_id: str, status: TransactionStatus) -> None:
    tx = w.rp.transaction(tx_id)
    assert tx is not None and tx.status is status
    if status is not S.ANSWERED:
        assert tx.answers is None


@pytest.fixture(params=["direct_post.jwt", "direct_post"])
def w(request: pytest.FixtureRequest) -> RpWorld:
    return make_rp_world(encrypted=request.param == "direct_post.jwt")


def test_sign_in_through_the_router(w: RpWorld) -> None:
    tx = w.rp.start(Query(purpose="age check", age_over=18, name_equals="张三丰"))
    assert tx.request_uri == f"{BASE}/netid/request/{tx.id}" and len(tx.id) >= 22
    assert tx.qr_text.startswith("openid4vp://?client_id=verifier_attestation%3Ashop.example&request_uri=")
    assert tx.request.response_uri == PREFIX_URI + tx.id
    assert w.client.get(f"/netid/transactions/{tx.id}").json() == {
        "status": "pending",
        "expires_at": tx.expires_at,
    }

    served = w.client.get(tx.request_uri)
    assert served.status_code == 200 and served.headers["content-type"] == REQUEST_MEDIA_TYPE
    assert served.headers["cache-control"] == "no-store" and served.text == tx.request.request_object
    opened = open_request(served.text, trust=w.world.trust, now=w.world.clock())
    assert opened.response_mode == w.rp.response_mode
    assert w.client.get(f"/netid/transactions/{tx.id}").json()["status"] == "fetched"

    response = answer(w, tx.qr_text)
    form = response.form()
    assert set(form) == ({"response"} if w.rp.response_mode == "direct_post.jwt" else {"vp_token", "state"})
    posted = w.post(response.response_uri, form)
    assert posted.status_code == 200 and posted.json() == {}
    assert (
        posted.headers["content-type"] == "application/json" and posted.headers["cache-control"] == "no-store"
    )

    result = w.rp.result(tx.id)
    assert result is not None and result.status is S.ANSWERED and result.error is None
    assert result.answers is not None and dict(result.answers.predicates) == {
        "age_over_18": True,
        "name_equals": True,
    }
    assert w.client.get(f"/netid/transactions/{tx.id}").json()["status"] == "answered"
    stored = w.rp.transaction(tx.id)
    assert stored is not None
    assert [e.message for e in stored.events] == [
        f"created ({w.rp.response_mode})",
        "request fetched",
        "request fetched",  # the test fetched it once itself
        "response posted",
        "answered",
    ]
    assert w.world.person.full_name not in repr(stored) and w.world.person.personal_number not in str(stored)


def test_a_replayed_response_is_refused_and_changes_nothing(w: RpWorld) -> None:
    tx = w.rp.start(AGE)
    response = answer(w, tx.qr_text)
    form = response.form()
    assert w.post(response.response_uri, form).status_code == 200
    before = w.rp.result(tx.id)
    problem(w.post(response.response_uri, form), 409, "already_answered")
    problem(w.post(response.response_uri, response.form()), 409, "already_answered")  # re-encrypted too
    assert w.rp.result(tx.id) == before
    stored = w.rp.transaction(tx.id)
    assert stored is not None and stored.events[-1].message == "response refused: already_answered"
    # nor can it answer another transaction: that one's state differs
    other = w.rp.start(AGE)
    w.client.get(other.request_uri)
    problem(w.post(PREFIX_URI + other.id, form), 400, "state_mismatch")
    unchanged(w, other.id, S.FETCHED)


def test_an_expired_transaction(w: RpWorld) -> None:
    tx = w.rp.start(AGE)
    response = answer(w, tx.qr_text)
    w.world.clock.now = tx.expires_at + 1
    problem(w.post(response.response_uri, response.form()), 410, "transaction_expired")
    problem(w.client.get(tx.request_uri), 410, "transaction_expired")
    unchanged(w, tx.id, S.FETCHED)
    result = w.rp.result(tx.id)
    assert result is not None and result.status is S.EXPIRED and result.answers is None
    assert w.client.get(f"/netid/transactions/{tx.id}").json()["status"] == "expired"
    # the last second is still in time (for a KB-JWT made at the request's last second)
    late = w.rp.start(AGE)
    w.world.clock.now = late.request.exp
    response = answer(w, late.qr_text)
    w.world.clock.now = late.expires_at
    assert w.post(response.response_uri, response.form()).status_code == 200


def test_purged_transactions_are_unknown() -> None:
    w = make_rp_world(retention=60)
    tx = w.rp.start(AGE)
    w.world.clock.now = tx.purge_at + 1
    assert w.rp.purge() == 1
    assert w.rp.result(tx.id) is None and w.rp.transaction(tx.id) is None
    problem(w.client.get(tx.request_uri), 404, "unknown_transaction")
    problem(w.client.get(f"/netid/transactions/{tx.id}"), 404, "unknown_transaction")


def test_a_wrong_state(w: RpWorld) -> None:
    w = make_rp_world(encrypted=False)
    tx = w.rp.start(AGE)
    response = answer(w, tx.qr_text)
    form = response.form() | {"state": "A" * 22}
    problem(w.post(response.response_uri, form), 400, "state_mismatch")
    problem(w.post(response.response_uri, {k: v for k, v in response.form().items() if k != "state"}), 400,
            "state_mismatch")  # fmt: skip
    unchanged(w, tx.id, S.FETCHED)
    stored = w.rp.transaction(tx.id)
    assert stored is not None and stored.events[-1].message == "response refused: state_mismatch"
    assert w.post(response.response_uri, response.form()).status_code == 200  # the right one still works


def test_a_foreign_or_unknown_transaction_id(w: RpWorld) -> None:
    mine, theirs = w.rp.start(AGE), w.rp.start(AGE)
    response = answer(w, mine.qr_text)
    problem(w.post(PREFIX_URI + theirs.id, response.form()), 400, "state_mismatch")
    problem(w.post(PREFIX_URI + "B" * 22, response.form()), 404, "unknown_transaction")
    problem(w.post(PREFIX_URI + "short", response.form()), 404, "unknown_transaction")
    problem(w.client.get(f"{BASE}/netid/request/{'C' * 22}"), 404, "unknown_transaction")
    unchanged(w, theirs.id, S.PENDING)
    unchanged(w, mine.id, S.FETCHED)


def test_an_oversized_or_malformed_body(w: RpWorld) -> None:
    tx = w.rp.start(AGE)
    response = answer(w, tx.qr_text)
    uri = response.response_uri
    big = {"vp_token": "x" * (w.rp.max_body_bytes + 1), "state": tx.state}
    problem(w.post(uri, big), 413, "body_too_large")

    def chunks() -> Any:
        for _ in range(40):
            yield b"a" * 8192  # no Content-Length: counted while read

    streamed = w.client.post(
        uri, content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    problem(streamed, 413, "body_too_large")
    problem(w.client.post(uri, json=response.form()), 415, "unsupported_media_type")
    form_headers = {"content-type": "application/x-www-form-urlencoded"}
    problem(w.client.post(uri, content=b"\xff\xfe=1", headers=form_headers), 400, "invalid_response")
    problem(w.client.post(uri, content=b"state=a&state=b", headers=form_headers), 400, "invalid_response")
    problem(
        w.client.post(uri, content=b"&".join([b"a=1"] * 20), headers=form_headers), 400, "invalid_response"
    )
    problem(w.post(uri, {"state": tx.state}), 400, "invalid_response")
    unchanged(w, tx.id, S.FETCHED)
    assert w.post(uri, response.form()).status_code == 200


def test_the_response_mode_is_the_requests() -> None:
    encrypted = make_rp_world(encrypted=True)
    tx = encrypted.rp.start(AGE)
    response = answer(encrypted, tx.qr_text)
    in_clear = {"vp_token": '{"netcert": ["x"]}', "state": tx.state}
    body = problem(encrypted.post(response.response_uri, in_clear), 400, "invalid_response")
    assert body["detail"] == "an encrypted response is expected"
    garbage = {"response": "a.b.c.d.e"}
    problem(encrypted.post(response.response_uri, garbage), 400, "invalid_response")
    unchanged(encrypted, tx.id, S.FETCHED)
    # the same RP may still ask for a response in clear, per transaction
    plain = encrypted.rp.start(AGE, response_mode="direct_post")
    response = answer(encrypted, plain.qr_text)
    problem(
        encrypted.post(response.response_uri, {"response": "x", **response.form()}), 400, "invalid_response"
    )
    assert encrypted.post(response.response_uri, response.form()).status_code == 200

    clear = make_rp_world(encrypted=False)
    with pytest.raises(UsageError, match="encryption_key"):
        clear.rp.start(AGE, response_mode="direct_post.jwt")


def test_a_failed_verification_fails_the_transaction(w: RpWorld) -> None:
    tx = w.rp.start(AGE)
    response = answer(w, tx.qr_text)
    for idx in w.world.used_indices:  # the issuer revokes the person's credentials
        w.world.status.set(idx, 1)
    body = problem(w.post(response.response_uri, response.form()), 400, "status_revoked")
    assert body["detail"] == "verification failed: status_revoked"
    result = w.rp.result(tx.id)
    assert result is not None and result.status is S.FAILED and result.error == "status_revoked"
    assert result.answers is None
    stored = w.rp.transaction(tx.id)
    assert stored is not None and [e.message for e in stored.events][-2:] == [
        "response posted",
        "verification failed: status_revoked",
    ]
    problem(w.post(response.response_uri, response.form()), 409, "transaction_failed")
    problem(w.client.get(tx.request_uri), 409, "transaction_failed")


def test_a_status_outage_is_503() -> None:
    w = make_rp_world(encrypted=False)
    tx = w.rp.start(AGE)
    response = answer(w, tx.qr_text)

    def down(uri: str) -> str:
        raise OSError("the issuer is down")

    w.world.fetch_status = down  # type: ignore[method-assign]
    problem(w.post(response.response_uri, response.form()), 503, "status_unavailable")


def test_a_response_to_another_request_fails_verification_not_replay() -> None:
    """A valid presentation made for transaction A, re-posted with B's state: B fails (nonce), A keeps
    its answer; a replay of A's nonce itself (nonce_reused) never fails a transaction."""
    w = make_rp_world(encrypted=False)
    a, b = w.rp.start(AGE), w.rp.start(AGE)
    response_a = answer(w, a.qr_text)
    w.client.get(b.request_uri)
    form = response_a.form() | {"state": b.state}
    problem(w.post(PREFIX_URI + b.id, form), 400, "nonce")
    unchanged(w, b.id, S.FAILED)
    assert w.post(response_a.response_uri, response_a.form()).status_code == 200


def test_a_wallet_error_response(w: RpWorld) -> None:
    tx = w.rp.start(AGE)
    w.client.get(tx.request_uri)
    posted = w.post(
        PREFIX_URI + tx.id, {"error": "access_denied", "error_description": "no", "state": tx.state}
    )
    assert posted.status_code == 200 and posted.json() == {}
    result = w.rp.result(tx.id)
    assert result is not None and result.status is S.FAILED and result.error == "wallet:access_denied"
    odd = w.rp.start(AGE)
    w.post(PREFIX_URI + odd.id, {"error": "<script>", "state": odd.state})
    result = w.rp.result(odd.id)
    assert result is not None and result.error == "wallet:invalid"
    third = w.rp.start(AGE)
    problem(
        w.post(PREFIX_URI + third.id, {"error": "access_denied", "state": "x" * 22}), 400, "state_mismatch"
    )


def test_same_device_redirect_carries_a_response_code(w: RpWorld) -> None:
    tx = w.rp.start(AGE, redirect_uri="https://shop.example/welcome?step=2")
    response = answer(w, tx.qr_text)
    posted = w.post(response.response_uri, response.form())
    assert posted.status_code == 200
    redirect = posted.json()["redirect_uri"]
    assert redirect.startswith("https://shop.example/welcome?step=2&response_code=")
    code = redirect.rsplit("=", 1)[1]
    assert len(code) >= 22
    # the answers go only to whoever holds the code (session fixation, OpenID4VP 1.0 §8.2)
    for wrong in (None, "x" * 22):
        held = w.rp.result(tx.id, response_code=wrong)
        assert held is not None and held.status is S.ANSWERED and held.answers is None
    released = w.rp.result(tx.id, response_code=code)
    assert released is not None and released.answers is not None and released.answers["age_over_18"] is True
    with pytest.raises(UsageError):
        w.rp.start(AGE, redirect_uri="https://shop.example/x#frag")


def test_a_shared_response_uri_finds_the_transaction_by_state() -> None:
    shared = f"{BASE}/netid/response"
    for encrypted in (True, False):
        w = make_rp_world(encrypted=encrypted, response_uris=(shared,))
        assert not w.rp.per_transaction
        tx = w.rp.start(AGE)
        assert tx.request.response_uri == shared
        response = answer(w, tx.qr_text)
        assert w.post(f"{shared}/{tx.id}", response.form()).status_code == 404  # no such route
        assert w.post(shared, response.form()).json() == {}
        result = w.rp.result(tx.id)
        assert result is not None and result.answers is not None
        problem(w.post(shared, response.form()), 409, "already_answered")
        problem(w.post(shared, {"vp_token": "{}", "state": "Z" * 22}), 404, "unknown_transaction")
        problem(w.post(shared, {"response": "a.b.c.d.e"}), 400, "invalid_response")


def test_an_rp_needs_a_registered_response_uri() -> None:
    w = make_rp_world()
    with pytest.raises(UsageError, match="registers neither"):
        RelyingParty(
            base_url="https://other.example", signing_key=w.world.rp_key, certificate=w.world.rp_cert,
            verifier=w.world.verifier,
        )  # fmt: skip
    for bad in ("ftp://shop.example", "http://shop.example", "https://shop.example/?x=1"):
        with pytest.raises(UsageError):
            RelyingParty(base_url=bad, signing_key=w.world.rp_key, certificate=w.world.rp_cert,
                         verifier=w.world.verifier)  # fmt: skip
    with pytest.raises(UsageError, match="prefix"):
        RelyingParty(base_url=BASE, signing_key=w.world.rp_key, certificate=w.world.rp_cert,
                     verifier=w.world.verifier, prefix="netid/")  # fmt: skip


def test_the_status_route_can_be_left_out() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from netid.verifier.http import netid_router

    w = make_rp_world()
    app = FastAPI()
    app.include_router(netid_router(w.rp, status_route=False))
    tx = w.rp.start(AGE)
    assert TestClient(app, base_url=BASE).get(f"/netid/transactions/{tx.id}").status_code == 404


def test_the_whole_flow_on_a_sql_store(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'rp.db'}")
    w = make_rp_world(store=SqlTransactionStore(engine))
    tx = w.rp.start(Query(purpose="sign in", age_over=18, want_subject=True))
    w.world.mint(1, kind="rp")
    response = answer(w, tx.qr_text)
    assert w.post(response.response_uri, response.form()).json() == {}
    problem(w.post(response.response_uri, response.form()), 409, "already_answered")
    # another worker, another store object on the same database, reads the result
    other = RelyingParty(
        base_url=BASE, signing_key=w.world.rp_key, certificate=w.world.rp_cert, verifier=w.world.verifier,
        store=SqlTransactionStore(engine), clock=w.world.clock,
    )  # fmt: skip
    result = other.result(tx.id)
    assert result is not None and result.answers is not None and result.answers.subject
    stored = other.transaction(tx.id)
    assert (
        stored is not None and [e.message for e in stored.events][-1] == "response refused: already_answered"
    )
    engine.dispose()


@pytest.mark.parametrize("in_thread", [True, False])
def test_the_response_endpoint_in_a_thread_or_inline(in_thread: bool) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from netid.verifier.http import netid_router

    w = make_rp_world()
    app = FastAPI()
    app.include_router(netid_router(w.rp, in_thread=in_thread))
    client = TestClient(app, base_url=BASE)
    tx = w.rp.start(AGE)
    response = w.world.wallet.present(
        tx.qr_text, now=w.world.clock(), consent=lambda p: True, amr="pin",
        fetch=lambda uri: client.get(uri).raise_for_status().text,
    )  # fmt: skip
    assert client.post(response.response_uri, data=response.form()).json() == {}
    problem(client.post(response.response_uri, data=response.form()), 409, "already_answered")


def test_the_routes_are_in_the_openapi_document() -> None:
    from fastapi import FastAPI

    from netid.verifier.http import netid_router

    w = make_rp_world()
    app = FastAPI()
    app.include_router(netid_router(w.rp))
    paths = app.openapi()["paths"]
    assert set(paths) == {
        "/netid/request/{tx_id}", "/netid/response/{tx_id}", "/netid/transactions/{tx_id}",
    }  # fmt: skip
    post = paths["/netid/response/{tx_id}"]["post"]
    assert post["parameters"][0]["name"] == "tx_id"
    assert {"400", "404", "409", "410", "413", "415", "503"} <= set(post["responses"])
    assert (
        "application/oauth-authz-req+jwt"
        in paths["/netid/request/{tx_id}"]["get"]["responses"]["200"]["content"]
    )


def test_nothing_the_rp_keeps_or_answers_holds_a_personal_value() -> None:
    """Everything the RP's endpoints answered and everything its store keeps — transactions, events,
    answers, problems — scanned for the person's values in every encoding the leak scanner knows."""
    from netid.testing.leaks import find_values, personal_value_forms

    w = make_rp_world(encrypted=False)
    person = w.world.person
    texts: list[str] = []
    for query in (Query(purpose="age check", age_over=18), Query(purpose="age check", doc_valid=True)):
        tx = w.rp.start(query)
        response = answer(w, tx.qr_text)
        texts.append(w.post(response.response_uri, response.form() | {"state": "A" * 22}).text)  # refused
        texts.append(w.post(response.response_uri, response.form()).text)
        texts.append(w.post(response.response_uri, response.form()).text)  # replayed
        texts.append(w.client.get(f"/netid/transactions/{tx.id}").text)
        stored = w.rp.transaction(tx.id)
        assert stored is not None
        texts += [repr(stored), repr(w.rp.result(tx.id)), *(e.message for e in stored.events)]
    forms = personal_value_forms(
        personal_number=person.personal_number, date_of_birth=person.date_of_birth, full_name=person.full_name
    )
    assert find_values(texts, forms) == []
    # positive control: the presentation the wallet posted does carry a disclosed value the scanner finds
    assert find_values([response.form()["vp_token"]], {"doc_valid claim": '"doc_valid",true'}) == [
        "doc_valid claim"
    ]


def test_an_encrypted_response_without_a_vp_token_changes_nothing() -> None:
    from netid.oid4vp.response import encrypt_response

    w = make_rp_world()
    tx = w.rp.start(AGE, redirect_uri="https://shop.example/back")
    w.client.get(tx.request_uri)
    assert tx.request.response_encryption is not None
    form = encrypt_response({"state": tx.state}, tx.request.response_encryption)
    problem(w.post(PREFIX_URI + tx.id, form), 400, "invalid_response")
    unchanged(w, tx.id, S.FETCHED)
    # a wallet's error response of a same-device transaction sends the browser back, without a code
    declined = encrypt_response({"error": "access_denied", "state": tx.state}, tx.request.response_encryption)
    assert w.post(PREFIX_URI + tx.id, declined).json() == {"redirect_uri": "https://shop.example/back"}
    result = w.rp.result(tx.id)
    assert result is not None and result.status is S.FAILED and result.error == "wallet:access_denied"
