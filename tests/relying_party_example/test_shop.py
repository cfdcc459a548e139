"""The shop's pages over a test world: sign-in (cross-device and same-device), the age gate, the name
check, the account page, the in-person desk — and every way a check can go wrong: an expired request, a
replayed or copied answer, a declined consent, a link used twice, another browser, a forged cookie."""

from __future__ import annotations

import logging
import re

import pytest

from netid.oid4vp.response import encrypt_response
from netid.testing.leaks import find_values, personal_value_forms
from netid.wallet.in_person import answer_counter
from relying_party_example.session import COOKIE_NAME
from tests.relying_party_example.kit import Shop, make_shop, request_uri_of


@pytest.fixture
def shop() -> Shop:
    return make_shop()


def _done(shop: Shop, browser: object = None) -> str:
    client = browser or shop.browser
    done = client.get("/check/done")  # type: ignore[attr-defined]
    assert done.status_code == 303, done.text
    location: str = done.headers["location"]
    return location


def _personal(shop: Shop) -> dict[str, str]:
    p = shop.world.person
    return personal_value_forms(
        personal_number=p.personal_number, date_of_birth=p.date_of_birth, full_name=p.full_name
    )


def test_sign_in_cross_device(shop: Shop) -> None:
    page = shop.start("/signin")
    assert "<svg" in page and 'class="qr"' in page and "sign in" in page
    uri = request_uri_of(page)
    assert (
        uri.startswith("openid4vp://?")
        and "request_uri=https%3A%2F%2Fshop.example%2Fnetid%2Frequest%2F" in uri
    )
    assert request_uri_of(page, "same-device") != uri  # a transaction of its own
    assert shop.browser.get("/check/status").json() == {"status": "pending", "kind": "signin"}

    shop.answer(uri)
    assert shop.browser.get("/check/status").json()["status"] == "answered"
    assert _done(shop) == "/account"
    account = shop.browser.get("/account").text
    session = shop.session()
    assert session["signed_in"] and session["subject"] and session["pending"] is None
    assert session["answers"] == {"doc_valid": True, "age_over_18": None, "name_equals": None}
    assert session["assurance"] == {"level": "substantial", "chip_auth": "aa", "mode": "pin"}
    assert session["subject"] in account and 'id="answer-doc_valid" class="yes"' in account
    # the same subject the next time: pairwise, stable
    shop.browser.post("/signout")
    assert not shop.session()["signed_in"]
    shop.answer(request_uri_of(shop.start("/signin")))
    _done(shop)
    assert shop.session()["subject"] == session["subject"]
    # nothing the customer saw or the shop wrote holds a personal value
    cookie = shop.browser.cookies[COOKIE_NAME]
    assert find_values([account, cookie, *map(str, shop.posted)], _personal(shop)) == []


def test_cookie_attributes_and_security_headers(shop: Shop) -> None:
    started = shop.browser.post("/signin")
    cookie = started.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie and "path=/" in cookie
    page = shop.browser.get("/check")
    assert page.headers["cache-control"] == "no-store"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline for the CSP to allow


def test_same_device_and_the_link_used_twice(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="relying_party_example.access")
    response = shop.present(request_uri_of(shop.start("/signin"), "same-device"))
    posted = shop.post(response)
    redirect = posted.json()["redirect_uri"]
    assert redirect.startswith("https://shop.example/check/callback?response_code=")
    # the cross-device QR of the same check is still waiting: the page keeps polling
    assert shop.browser.get("/check/status").json()["status"] == "pending"
    back = shop.browser.get(redirect)
    assert back.status_code == 303 and back.headers["location"] == "/account"
    assert shop.session()["signed_in"]
    again = shop.browser.get(redirect)
    assert again.status_code == 409 and "already used" in again.text
    # the access log has the callback's path, never its response code
    lines = [r.getMessage() for r in caplog.records if r.name == "relying_party_example.access"]
    assert "GET /check/callback 303" in lines and "GET /check/callback 409" in lines
    assert not any("response_code" in line for line in lines)


def test_a_wrong_response_code_releases_nothing(shop: Shop) -> None:
    response = shop.present(request_uri_of(shop.start("/signin"), "same-device"))
    assert "redirect_uri" in shop.post(response).json()
    wrong = shop.browser.get("/check/callback?response_code=" + "A" * 22)
    assert wrong.status_code == 400 and "does not match" in wrong.text
    assert not shop.session()["signed_in"]


def test_an_answer_lands_only_in_the_browser_that_asked(shop: Shop) -> None:
    page = shop.start("/signin")
    other = shop.new_browser()
    response = shop.present(request_uri_of(page, "same-device"))
    redirect = shop.post(response).json()["redirect_uri"]
    shop.answer(request_uri_of(page))
    # the other browser holds no cookie naming these transactions: nothing to complete
    assert other.get("/check/done").headers["location"] == "/"
    assert other.get(redirect).status_code == 409
    assert other.get("/check/status").json() == {"status": "none", "kind": None}
    assert not shop.session(other)["signed_in"]
    assert _done(shop) == "/account" and shop.session()["signed_in"]


def test_a_forged_or_stale_cookie_is_a_new_session(shop: Shop) -> None:
    shop.answer(request_uri_of(shop.start("/signin")))
    _done(shop)
    cookie = shop.browser.cookies[COOKIE_NAME]
    payload, mac = cookie.split(".")
    for forged in (f"{payload}.{mac[:-2]}AA", f"{payload[:-2]}AA.{mac}", "garbage", cookie + "x"):
        browser = shop.new_browser()
        browser.cookies.set(COOKIE_NAME, forged, domain="shop.example")
        assert not shop.session(browser)["signed_in"], forged
    browser = shop.new_browser()
    browser.cookies.set(COOKIE_NAME, cookie, domain="shop.example")
    assert shop.session(browser)["signed_in"]  # the genuine cookie, copied: the same session
    shop.world.clock.advance(3601)
    assert not shop.session(browser)["signed_in"]  # older than the session's max age


def test_the_age_gate_lets_an_adult_in(shop: Shop) -> None:
    gate = shop.browser.get("/age")
    assert gate.status_code == 200 and 'id="prove-age"' in gate.text
    shop.answer(request_uri_of(shop.start("/age")))
    assert _done(shop) == "/age"
    cellar = shop.browser.get("/age")
    assert cellar.status_code == 200 and 'id="cellar"' in cellar.text
    assert shop.session()["answers"]["age_over_18"] is True
    assert not shop.session()["signed_in"]  # an age gate needs no sign-in


def test_the_age_gate_refuses_a_16_year_old() -> None:
    shop = make_shop(age=16)
    shop.answer(request_uri_of(shop.start("/age")))
    assert _done(shop) == "/age"
    refused = shop.browser.get("/age")
    assert refused.status_code == 403 and 'id="age-refused"' in refused.text
    assert shop.session()["answers"]["age_over_18"] is False


def test_the_name_check_learns_yes_or_no(shop: Shop) -> None:
    real = shop.world.person.full_name
    shop.answer(request_uri_of(shop.start("/name", name=f"  {real} ")))
    assert _done(shop) == "/name"
    assert 'id="name-result" class="yes"' in shop.browser.get("/name").text
    assert shop.session()["answers"]["name_equals"] is True

    shop.answer(request_uri_of(shop.start("/name", name="李四")))
    _done(shop)
    page = shop.browser.get("/name").text
    assert 'id="name-result" class="no"' in page and "李四" in page
    assert shop.session()["answers"]["name_equals"] is False
    # the "no" exchange told the shop nothing about the real name
    assert find_values([page, *map(str, shop.posted[-1:])], {"name": real}) == []


def test_a_typed_name_is_escaped_and_never_logged(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    typed = '<script>alert("李")</script>'
    real = shop.world.person.full_name
    with caplog.at_level(logging.INFO, logger="relying_party_example"):
        shop.answer(request_uri_of(shop.start("/name", name=typed)))
        _done(shop)
        shop.answer(request_uri_of(shop.start("/name", name=real)))
        _done(shop)
    assert shop.session()["answers"]["name_equals"] is True
    page = shop.browser.get("/name").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" not in page  # the last check's name shows
    assert {r.getMessage() for r in caplog.records if r.name == "relying_party_example"} == {
        "check started",
        "check answered",
    }
    logged = " ".join(str(vars(r)) for r in caplog.records)
    assert "李" not in logged and real not in logged


def test_the_name_page_escapes_what_was_typed(shop: Shop) -> None:
    typed = '<script>alert("李")</script>'
    shop.answer(request_uri_of(shop.start("/name", name=typed)))
    _done(shop)
    page = shop.browser.get("/name").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


@pytest.mark.parametrize("typed", ["", " ", "x" * 65])
def test_the_name_form_refuses_what_it_cannot_ask(shop: Shop, typed: str) -> None:
    refused = shop.browser.post("/name", data={"name": typed})
    assert refused.status_code == 400 and 'id="name-problem"' in refused.text
    assert shop.session()["pending"] is None


def test_an_expired_request_gets_a_clear_page() -> None:
    shop = make_shop(request_ttl=60)
    page = shop.start("/signin")
    response = shop.present(request_uri_of(page))
    shop.world.clock.advance(60 + 300 + 1)  # past the request's exp and the late-response margin
    assert shop.browser.get("/check/status").json()["status"] == "expired"
    assert shop.post(response).status_code == 410
    done = shop.browser.get("/check/done")
    assert done.status_code == 410 and "expired" in done.text
    assert shop.session()["pending"] is None
    assert shop.browser.get("/check").headers["location"] == "/"


def test_a_replayed_response_gets_the_error_page(shop: Shop) -> None:
    """A customer signs in; an attacker who copied their answer posts it again, verbatim (refused:
    already answered) and then re-encrypted into the attacker's own new sign-in (the page says no)."""
    first = shop.answer(request_uri_of(shop.start("/signin")))
    _done(shop)
    assert shop.post(first, shop.posted[-1]).status_code == 409

    attacker = shop.new_browser()
    page = shop.start("/signin", attacker)
    own = shop.present(request_uri_of(page))  # the attacker's request: its state and encryption key
    assert own.encryption is not None
    replay = encrypt_response({"vp_token": dict(first.vp_token), "state": own.state}, own.encryption)
    assert shop.post(own, replay).status_code == 400
    assert attacker.get("/check/status").json()["status"] == "failed"
    done = attacker.get("/check/done")
    assert done.status_code == 400 and "not for this request" in done.text and "nonce" in done.text
    assert not shop.session(attacker)["signed_in"]


def test_a_declined_request_gets_a_clear_page(shop: Shop) -> None:
    page = shop.start("/age")
    tx_id = request_uri_of(page).rsplit("%2F", 1)[1].split("&", 1)[0]
    response_uri = f"https://shop.example/netid/response/{tx_id}"
    tx = shop.services.rp.transaction(tx_id)
    assert tx is not None
    declined = shop.new_browser().post(response_uri, data={"error": "access_denied", "state": tx.state})
    assert declined.status_code == 200
    done = shop.browser.get("/check/done")
    assert done.status_code == 400 and "You declined" in done.text
    assert shop.session()["answers"]["age_over_18"] is None


def test_the_check_page_polls_and_offers_both_ways(shop: Shop) -> None:
    page = shop.start("/age")
    assert 'data-status-url="/check/status"' in page and "/static/check.js" in page
    assert re.search(r'id="same-device" href="openid4vp://\?client_id=', page)
    script = shop.browser.get("/static/check.js")
    assert script.status_code == 200 and "fetch(" in script.text
    assert shop.browser.get("/static/shop.css").status_code == 200


def test_the_counter_answers_yes_once() -> None:
    shop = make_shop(age=19)
    desk = shop.browser.get("/counter")
    assert desk.status_code == 200 and 'id="counter-qr"' in desk.text and "<svg" in desk.text
    counter_qr = shop.services.counter.current().to_qr_text()
    dynamic = answer_counter(counter_qr, shop.world.wallet, now=shop.world.clock(), consent=lambda p: True,
                             amr="pin")  # fmt: skip
    yes = shop.browser.post("/counter", data={"qr": dynamic + "\n"})
    assert yes.status_code == 200 and "YES" in yes.text
    again = shop.browser.post("/counter", data={"qr": dynamic})
    assert again.status_code == 400 and "NOT ACCEPTED" in again.text and "nonce_reused" in again.text
    late = answer_counter(counter_qr, shop.world.wallet, now=shop.world.clock(), consent=lambda p: True,
                          amr="pin")  # fmt: skip
    shop.world.clock.advance(31)
    stale = shop.browser.post("/counter", data={"qr": late})
    assert stale.status_code == 400 and "older than 30 seconds" in stale.text
    assert shop.browser.post("/counter", data={"qr": "not a qr"}).status_code == 400


def test_the_counter_answers_no_for_a_16_year_old() -> None:
    shop = make_shop(age=16)
    counter_qr = shop.services.counter.current().to_qr_text()
    dynamic = answer_counter(counter_qr, shop.world.wallet, now=shop.world.clock(), consent=lambda p: True,
                             amr="pin")  # fmt: skip
    no = shop.browser.post("/counter", data={"qr": dynamic})
    assert no.status_code == 200 and "NO — not proven over 18" in no.text


def test_the_counter_signs_a_new_qr_and_still_accepts_the_last_one(shop: Shop) -> None:
    counter = shop.services.counter
    first = counter.current()
    shop.world.clock.advance(6 * 3600 + 1)  # three quarters of the QR's 8 hours
    dynamic_late = answer_counter(first.to_qr_text(), shop.world.wallet, now=shop.world.clock(),
                                  consent=lambda p: True, amr="pin")  # fmt: skip
    assert counter.current().request_object != first.request_object
    assert counter.check(dynamic_late)["age_over_18"] is True


def test_home_and_account_pages(shop: Shop) -> None:
    home = shop.browser.get("/")
    assert home.status_code == 200 and 'id="signin"' in home.text and "示例商城" in home.text
    assert 'id="signed-in"' not in shop.browser.get("/account").text
    assert shop.browser.get("/healthz").json() == {"status": "ok"}
    assert shop.browser.get("/check/done").headers["location"] == "/"  # nothing pending
