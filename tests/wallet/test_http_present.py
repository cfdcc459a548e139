"""Presenting over HTTP from a wallet on disk (netid.wallet.http), in process: the issuer app on a test
clock and relying parties mounted as https hosts of one in-memory "network". What crosses it is what would
cross a real one (tests/wallet/test_present_live.py runs the same paths through real servers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from netid.errors import PresentationError, WalletRefusal
from netid.verifier import Query
from netid.verifier.http import TransactionStatus
from netid.wallet.consent import ConsentPrompt
from netid.wallet.http import answered_key, fetch_request_object, post_response
from netid.wallet.present import OFFLINE
from netid.wallet.session import WalletSession
from tests.wallet.conftest import PIN
from tests.wallet.http_kit import (
    AGE,
    MALICIOUS,
    EvilRp,
    Stack,
    assert_refused,
    evil_request,
    honest_rp,
    inprocess_stack,
    refuse_expired_rp_certificate,
    refuse_replayed_request,
    refuse_revoked_rp,
    refuse_unsigned_and_oversized,
)

DAY = 86_400
S = TransactionStatus


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with inprocess_stack(tmp_path) as s:
        yield s


@pytest.fixture
def holder(stack: Stack) -> WalletSession:
    return stack.wallet("holder", stack.card(71, age=36))


def _reopen(stack: Stack, session: WalletSession) -> WalletSession:
    session.close()
    reopened = WalletSession.open(
        session.store.path, PIN, clock=session.clock, refresh_policy=session.refresh_policy
    )
    stack.cleanups.append(reopened.close)
    return reopened


# --- answering an honest RP ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["direct_post.jwt", "direct_post"])
def test_answers_an_rp_over_http_and_says_who_processes_what(
    stack: Stack, holder: WalletSession, mode: str
) -> None:
    shop = honest_rp(stack, "shop.example")
    prompts: list[ConsentPrompt] = []
    tx = shop.rp.start(Query(purpose="age check", age_over=18, doc_valid=True), response_mode=mode)  # type: ignore[arg-type]
    before = len(holder.usable_credentials())
    outcome = stack.present(holder, tx.qr_text, consent=lambda p: prompts.append(p) or True)

    result = shop.rp.result(tx.id)
    assert result is not None and result.status is S.ANSWERED and result.answers is not None
    assert dict(result.answers.predicates) == {"age_over_18": True, "doc_valid": True}
    assert result.answers.assurance.mode == "pin"
    assert outcome.answers == {"age_over_18": True, "doc_valid": True} and not outcome.subject_shared
    assert outcome.disclosed == {"age_over_18", "doc_valid"} and outcome.response_mode == mode
    assert outcome.rp_id == "shop.example" and outcome.redirect_uri is None

    (post,) = shop.recorder.posts()
    form = dict(httpx.QueryParams(post.body.decode()))
    assert set(form) == ({"response"} if mode == "direct_post.jwt" else {"vp_token", "state"})
    assert "cookie" not in post.headers

    # consent in plain words, both languages: the RP as the processor, contact, retention, purpose
    (prompt,) = prompts
    en, zh = prompt.text("en"), prompt.text("zh")
    assert "Processor of your information: shop.example Co., Ltd., contact: privacy@shop.example" in en
    assert "keeps what it learns for: 30 days" in en and "for: age check" in en
    assert "个人信息处理者：shop.example Co., Ltd.，联系方式：privacy@shop.example" in zh
    assert "保存期限：30 days" in zh and "首次使用" not in zh

    # used once, on disk: the credential, its key, the log entry, the request remembered
    holder = _reopen(stack, holder)
    assert len(holder.usable_credentials()) == before - 1
    entry = holder.log()[-1]
    assert entry.event == "presented" and entry.rp_name == "shop.example 商城"
    assert dict(entry.answers) == {"age_over_18": True, "doc_valid": True}
    assert answered_key(shop.rp.transaction(tx.id).request) in holder.store.answered  # type: ignore[union-attr]


def test_a_name_the_rp_typed_matches_or_is_not_proven(stack: Stack, holder: WalletSession) -> None:
    shop = honest_rp(stack, "shop.example")
    person = stack.card(71, age=36).person
    for typed, proven in ((person.full_name, True), ("王五", False)):
        tx = shop.rp.start(Query(purpose="age check", name_equals=typed))
        outcome = stack.present(holder, tx.qr_text)
        result = shop.rp.result(tx.id)
        assert result is not None and result.answers is not None
        assert result.answers["name_equals"] is proven and outcome.answers == {"name_equals": proven}
        body = shop.recorder.posts()[-1].body
        assert person.full_name.encode() not in body  # the value travels encrypted, if at all
    assert "王五" not in json.dumps([e.to_json() for e in holder.log()], ensure_ascii=False)


def test_same_device_redirect_and_sign_in_fetches_an_rp_batch_on_first_contact(
    stack: Stack, holder: WalletSession
) -> None:
    shop = honest_rp(stack, "shop.example")
    sign_in = Query(purpose="sign in", want_subject=True)
    prompts: list[ConsentPrompt] = []
    assert holder.summary()["issuers"][0]["unused"]["rp"] == 0

    tx = shop.rp.start(sign_in, redirect_uri="https://shop.example/welcome")
    first = stack.present(holder, tx.qr_text, consent=lambda p: prompts.append(p) or True)
    assert first.rp_credentials == 2 and first.subject_shared and first.answers == {"subject": True}
    assert first.redirect_uri is not None and first.redirect_uri.startswith("https://shop.example/welcome?")
    code = first.redirect_uri.split("response_code=", 1)[1]
    result = shop.rp.result(tx.id, response_code=code)
    assert result is not None and result.answers is not None and result.answers.subject
    assert result.answers.credential_kind == "rp"
    assert prompts[0].first_contact and "First visit" in prompts[0].text("en")
    assert "首次使用" in prompts[0].text("zh") and len(prompts) == 1  # asked once, before the fetch

    # the second sign-in: no fetch, the same pairwise subject
    tx2 = shop.rp.start(sign_in)
    second = stack.present(holder, tx2.qr_text)
    result2 = shop.rp.result(tx2.id)
    assert second.rp_credentials == 0 and result2 is not None and result2.answers is not None
    assert result2.answers.subject == result.answers.subject
    # both RP-scoped credentials used: the refresh after the presentation tops them up
    assert second.refreshed == 2
    events = [(e.event, e.rp_id) for e in holder.log()]
    assert events == [("enrolled", None), ("refreshed", "shop.example"), ("presented", "shop.example"),
                      ("presented", "shop.example"), ("refreshed", "shop.example")]  # fmt: skip


def test_first_contact_declined_fetches_nothing(stack: Stack, holder: WalletSession) -> None:
    shop = honest_rp(stack, "shop.example")
    tx = shop.rp.start(Query(purpose="sign in", want_subject=True))
    seen_before = len(stack.router.seen)  # type: ignore[union-attr]
    assert_refused(stack, holder, tx.qr_text, "consent_denied", consent=lambda p: False)
    hosts = {url.split("/")[2] for _, url in stack.router.seen[seen_before:]}  # type: ignore[union-attr]
    assert hosts == {"shop.example", "127.0.0.1:8000"}  # the request, the RP's status; no /credential
    assert not any("/credential" in url for _, url in stack.router.seen[seen_before:])  # type: ignore[union-attr]
    assert holder.summary()["issuers"][0]["unused"]["rp"] == 0 and not shop.recorder.posts()


def test_refresh_runs_after_each_presentation(stack: Stack, holder: WalletSession) -> None:
    shop = honest_rp(stack, "shop.example")
    outcomes = [stack.present(holder, shop.rp.start(AGE).qr_text) for _ in range(3)]
    # 4 credentials, low water 2: after the third presentation 1 is left -> a batch of 4 arrives
    assert [o.refreshed for o in outcomes] == [0, 0, 4]
    assert holder.summary()["issuers"][0]["unused"]["anonymous"] == 5
    stack.router.down.add("127.0.0.1:8000")  # type: ignore[union-attr]
    # the issuer down: the status check fails closed (nothing used) ...
    assert_refused(stack, holder, shop.rp.start(AGE).qr_text, "rp_certificate")
    # ... and offline, the presentation stands while a due refresh fails quietly
    for _ in range(4):
        last = stack.present(holder, shop.rp.start(AGE).qr_text, rp_status=OFFLINE)
    assert last.refreshed == 0 and last.refresh_error == "transport"


# --- failures of the network or the RP -----------------------------------------------------------------


def test_the_rp_unreachable_before_the_post_uses_nothing(stack: Stack, holder: WalletSession) -> None:
    shop = honest_rp(stack, "shop.example")
    tx = shop.rp.start(AGE)
    stack.router.down.add("shop.example")  # type: ignore[union-attr]
    usable = len(holder.usable_credentials())
    with pytest.raises(PresentationError) as failed:
        stack.present(holder, tx.qr_text)
    assert failed.value.code == "transport" and not failed.value.spent
    assert len(holder.usable_credentials()) == usable and holder.log()[-1].event == "enrolled"

    stack.router.down.clear()  # type: ignore[union-attr]
    unknown = tx.qr_text.replace(tx.id, "N" * 22)
    with pytest.raises(PresentationError) as failed:
        stack.present(holder, unknown)
    assert (failed.value.code, failed.value.status, failed.value.spent) == ("unknown_transaction", 404, False)
    assert len(holder.usable_credentials()) == usable


def test_a_post_that_fails_spends_the_credential_and_says_so(stack: Stack, holder: WalletSession) -> None:
    """The decision: the presentation was made (bound to this request, its key deleted, logged) before
    the post; a lost post cannot give it back, and the holder is told so."""
    shop = honest_rp(stack, "shop.example")
    tx = shop.rp.start(AGE)
    usable = len(holder.usable_credentials())
    router = stack.router
    assert router is not None
    original = router.handle_request

    def drop_the_post(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "/netid/response/" in str(request.url):
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return original(request)

    router.handle_request = drop_the_post  # type: ignore[method-assign]
    with pytest.raises(PresentationError) as failed:
        stack.present(holder, tx.qr_text)
    assert failed.value.code == "transport" and failed.value.spent
    holder = _reopen(stack, holder)
    assert len(holder.usable_credentials()) == usable - 1
    assert holder.log()[-1].event == "presented"  # what may have reached the RP is on the holder's record
    router.handle_request = original  # type: ignore[method-assign]
    # the same request again: the wallet remembers it answered it
    assert_refused(stack, holder, tx.qr_text, "already_answered")


def test_request_fetch_rules(stack: Stack) -> None:
    evil = EvilRp(stack)
    http = stack.http
    token = evil_request(evil, stack.clock())
    evil.serve("ok", token)
    assert fetch_request_object(http, f"{evil.base}/evil/ok") == token
    for url in ("http://evil.example/evil/ok", "http://127.0.0.1:9/x", "ftp://evil.example/x",
                "https://user@evil.example/x", "https://evil.example/x#frag"):  # fmt: skip
        with pytest.raises(WalletRefusal) as refused:
            fetch_request_object(http, url)
        assert refused.value.code == "request", url
    evil.serve("text", token, media_type="text/html")
    with pytest.raises(WalletRefusal):
        fetch_request_object(http, f"{evil.base}/evil/text")
    evil.served["binary"] = (b"\xff" * 10, "application/oauth-authz-req+jwt", False)
    with pytest.raises(WalletRefusal):
        fetch_request_object(http, f"{evil.base}/evil/binary")
    with pytest.raises(PresentationError) as failed:
        fetch_request_object(http, "https://nowhere.example/r")
    assert failed.value.code == "transport" and not failed.value.spent


def test_the_answer_of_the_rp_is_read_strictly(stack: Stack, holder: WalletSession) -> None:
    shop = honest_rp(stack, "shop.example")
    from netid.wallet.present import PresentationResponse

    response = PresentationResponse(
        "https://shop.example/netid/response/" + "A" * 22, {"netcert": ["x"]}, "s"
    )
    with pytest.raises(PresentationError) as failed:
        post_response(stack.http, response)
    assert failed.value.code == "unknown_transaction" and failed.value.status == 404 and failed.value.spent
    assert shop.recorder.posts()


# --- the malicious RP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(MALICIOUS))
def test_malicious_requests_are_refused_and_nothing_is_disclosed(
    stack: Stack, holder: WalletSession, code: str
) -> None:
    evil = EvilRp(stack)
    uri = evil.serve(code, evil_request(evil, stack.clock(), **MALICIOUS[code]))
    asked: list[ConsentPrompt] = []
    assert_refused(stack, holder, uri, code, evil=evil, consent=lambda p: asked.append(p) or True)
    assert not asked and evil.fetches == [code]


def test_unsigned_and_oversized_requests_are_refused(stack: Stack, holder: WalletSession) -> None:
    refuse_unsigned_and_oversized(stack, holder)


def test_a_revoked_or_suspended_rp_is_refused(stack: Stack, holder: WalletSession) -> None:
    refuse_revoked_rp(stack, holder)


def test_an_expired_rp_certificate_is_refused(stack: Stack, holder: WalletSession) -> None:
    refuse_expired_rp_certificate(stack, holder)


def test_a_replayed_request(stack: Stack, holder: WalletSession) -> None:
    refuse_replayed_request(stack, holder)


def test_a_rotated_issuer_key_is_fetched_once_and_kept(stack: Stack, holder: WalletSession) -> None:
    """An RP certified after the issuer rotated its RP-certificate key: the wallet's stored key set lacks
    the new kid, so it fetches /jwks.json once, checks the set and stores it."""
    rotated = stack.admin("POST", "/admin/keys/rp_certificate/rotate")
    assert rotated.status_code == 200, rotated.text
    stored = {k["kid"] for k in holder.issuer().jwks["keys"]}
    shop = honest_rp(stack, "new-shop.example")
    router = stack.router
    assert router is not None
    seen = len(router.seen)
    stack.present(holder, shop.rp.start(AGE).qr_text)
    assert sum(url.endswith("/jwks.json") for _, url in router.seen[seen:]) == 1
    assert {k["kid"] for k in holder.issuer().jwks["keys"]} > stored
    holder = _reopen(stack, holder)
    seen = len(router.seen)
    stack.present(holder, shop.rp.start(AGE).qr_text)
    assert not any(url.endswith("/jwks.json") for _, url in router.seen[seen:])  # kept on disk
