"""The example shop in headless Chromium: the pages a customer sees, with a wallet answering what the
page shows — sign-in (the QR code's link, and the same-device link), the age gate, the name check, and a
replayed answer."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from netid.oid4vp.request import ResponseEncryption
from netid.oid4vp.response import decrypt_response, encrypt_response, encryption_jwk
from tests.browser.conftest import ROOT, Holder, Live

pytestmark = pytest.mark.slow

#: the screenshot in the README: ``NETID_UPDATE_DOCS_IMG=1`` makes it anew from the sign-in test (with a CJK
#: font installed, e.g. Debian's fonts-wqy-microhei, or the shop's Chinese name shows as boxes)
DOCS_SCREENSHOT = ROOT / "docs" / "img" / "sign-in.png"


@pytest.fixture
def page(chromium: Any, live: Live) -> Iterator[Any]:
    """A new browser context (its own cookies) and page at the shop."""
    context = chromium.new_context(viewport={"width": 1000, "height": 760}, base_url=live.shop)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _shot(page: Any, artifacts: Path, name: str) -> Path:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _start(page: Any, button: str) -> str:
    """Press ``button`` and return the request link the check page shows behind its QR code."""
    page.click(button)
    page.wait_for_url("**/check")
    assert page.locator("#qr svg").is_visible()
    uri: str = page.get_attribute("#qr", "data-request-uri")
    assert uri.startswith("openid4vp://?client_id=verifier_attestation%3Ashop.example&request_uri=")
    assert page.input_value("#request-uri") == uri
    return uri


def _small_png(source: Path, target: Path) -> None:
    """``source`` as a palette PNG of at most 64 colours: a screenshot small enough to commit."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=64).save(target, optimize=True)


def test_sign_in_with_the_qr_code_link(page: Any, live: Live, artifacts: Path) -> None:
    page.goto("/")
    uri = _start(page, "#signin")
    assert page.get_attribute("#same-device", "href").startswith("openid4vp://")
    assert "Waiting for your wallet" in page.inner_text("#check-status")
    shot = _shot(page, artifacts, "sign-in")
    if os.environ.get("NETID_UPDATE_DOCS_IMG"):
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        _small_png(shot, DOCS_SCREENSHOT)

    outcome = live.adult.answer(uri)
    assert outcome.subject_shared and outcome.answers == {"doc_valid": True, "subject": True}
    page.wait_for_url("**/account")  # the page's own polling moved on
    assert page.inner_text("#signed-in") == "Signed in with NetID"
    subject = page.inner_text("#subject")
    assert len(subject) >= 22
    assert page.inner_text("#answer-doc_valid") == "yes"
    assert page.inner_text("#answer-age_over_18") == "not asked"
    assert "substantial" in page.inner_text("#assurance")
    text = page.inner_text("body")
    assert live.adult.full_name not in text
    _shot(page, artifacts, "signed-in")
    # the session cookie: HttpOnly, SameSite=Lax, out of the page's reach
    [cookie] = [c for c in page.context.cookies() if c["name"] == "netid_shop"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""


def test_the_age_gate_lets_an_adult_in_and_refuses_a_16_year_old(
    chromium: Any, live: Live, artifacts: Path
) -> None:
    for holder, allowed in ((live.adult, True), (live.teen, False)):
        context = chromium.new_context(base_url=live.shop)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/age")
        outcome = holder.answer(_start(page, "#prove-age"))
        assert outcome.answers == {"age_over_18": allowed}
        page.wait_for_url("**/age")
        page.wait_for_load_state()
        if allowed:
            assert page.inner_text("#cellar") == "Welcome to the wine cellar"
        else:
            assert page.inner_text("#age-refused") == "Sorry: over 18 only"
            assert "The shop learned only this" in page.inner_text("main")
        _shot(page, artifacts, f"age-gate-{holder.name}")
        context.close()


def test_a_wrong_typed_name_gets_no_and_the_real_one_yes(page: Any, live: Live, artifacts: Path) -> None:
    for typed, expected in (("王小明", "no"), (live.adult.full_name, "yes")):
        page.goto("/name")
        page.fill("#name", typed)
        outcome = live.adult.answer(_start(page, "#confirm-name"))
        assert outcome.answers == {"name_equals": expected == "yes"}
        assert outcome.disclosed == (frozenset({"name"}) if expected == "yes" else frozenset())
        page.wait_for_url("**/name")
        result = page.locator("#name-result")
        assert result.get_attribute("class") == expected
        assert result.inner_text().startswith("Yes" if expected == "yes" else "No")
        _shot(page, artifacts, f"name-{expected}")


#: A stand-in for the Shape Detection API's BarcodeDetector, which desktop Linux Chromium lacks: it
#: "reads" ``window.__heldUpCode`` from whatever the camera shows. The boundary doubled is only the
#: decoding of a camera image (impossible here); the camera itself is Chromium's fake capture device,
#: and the page's own script does everything else.
FAKE_DETECTOR = """
window.BarcodeDetector = class {
  constructor(options) { window.__detectorFormats = options.formats; }
  async detect(source) {
    if (!(source instanceof HTMLVideoElement) || !source.srcObject) { throw new Error("no video"); }
    return window.__heldUpCode ? [{ rawValue: window.__heldUpCode, format: "qr_code" }] : [];
  }
};
"""


def _counter_answer(page: Any, live: Live, holder: Holder) -> str:
    """Open the desk page; the holder's wallet answers the code it shows; the dynamic QR text."""
    page.goto("/counter")
    assert page.locator("#counter-qr svg").is_visible()
    shown = page.text_content("#counter-text").strip()
    assert shown.startswith("NETIDC1:")
    return holder.answer_counter(shown)


def test_the_counter_desk_pasted_and_from_the_camera(chromium: Any, live: Live, artifacts: Path) -> None:
    # no QR reader in this browser: no camera button; the code pasted from a scanner
    context = chromium.new_context(base_url=live.shop)
    page = context.new_page()
    page.set_default_timeout(15_000)
    dynamic = _counter_answer(page, live, live.adult)
    assert page.locator("#scan-camera").is_hidden()
    page.fill("#dynamic-qr", dynamic)
    page.click("#check-counter")
    assert page.inner_text("#counter-verdict") == "YES — over 18"
    page.go_back()
    page.fill("#dynamic-qr", dynamic)
    page.click("#check-counter")  # shown twice: once only
    assert page.inner_text("#counter-verdict") == "NOT ACCEPTED" and "used already" in page.inner_text("main")
    context.close()

    # a browser that reads QR codes, and a camera: the code held up is read and checked by itself
    for holder, verdict in ((live.adult, "YES — over 18"), (live.teen, "NO — not proven over 18")):
        context = chromium.new_context(base_url=live.shop, permissions=["camera"])
        context.add_init_script(FAKE_DETECTOR)
        page = context.new_page()
        page.set_default_timeout(15_000)
        dynamic = _counter_answer(page, live, holder)
        page.click("#scan-camera")
        page.wait_for_function("() => !document.getElementById('camera').hidden")
        assert page.evaluate("document.getElementById('camera').srcObject.getVideoTracks().length") == 1
        assert page.evaluate("window.__detectorFormats") == ["qr_code"]
        page.evaluate("code => { window.__heldUpCode = code; }", dynamic)
        page.wait_for_url("**/counter")
        page.wait_for_selector("#counter-verdict")
        assert page.inner_text("#counter-verdict") == verdict
        _shot(page, artifacts, f"counter-camera-{holder.name}")
        context.close()


def test_a_replayed_response_gets_the_error_page(chromium: Any, live: Live, artifacts: Path) -> None:
    """A customer signs in; their answer is then replayed: verbatim (the shop refuses it), re-encrypted into
    another browser's sign-in (that page shows the error), and the same-device link opened twice."""
    victim = chromium.new_context(base_url=live.shop).new_page()
    victim.goto("/")
    live.adult.answer(_start(victim, "#signin"))
    victim.wait_for_url("**/account")
    posted = [r for r in live.adult.posted if "/netid/response/" in str(r.url)][-1]  # the sign-in's answer
    form = dict(httpx.QueryParams(posted.content.decode()))

    # verbatim, to its own response URI: already answered
    again = httpx.post(str(posted.url), data=form, timeout=30)
    assert again.status_code == 409 and again.json()["code"] == "already_answered"

    # read in clear (as if the encryption had failed: the nonce binding is the next line of defence) and
    # posted into an attacker's own sign-in, re-encrypted to the shop's published key with that one's state
    key = live.stack.shop_encryption_key()
    stolen = decrypt_response(form["response"], key, kid=encryption_jwk(key)["kid"], max_bytes=1 << 20)
    attacker = chromium.new_context(base_url=live.shop).new_page()
    attacker.set_default_timeout(15_000)
    attacker.goto("/")
    uri = _start(attacker, "#signin")
    request_uri = httpx.QueryParams(uri.split("?", 1)[1])["request_uri"]
    request_object = httpx.get(request_uri, timeout=30).text  # public: whoever scans the QR code gets it
    claims = json.loads(_payload(request_object))
    published = claims["client_metadata"]["jwks"]["keys"][0]
    enc = claims["client_metadata"]["encrypted_response_enc_values_supported"][0]
    tx_id = request_uri.rsplit("/", 1)[1]
    replay = encrypt_response(
        {"vp_token": stolen["vp_token"], "state": claims["state"]},
        ResponseEncryption(jwk=published, enc=enc, kid=published["kid"]),
    )
    refused = httpx.post(f"{live.shop}/netid/response/{tx_id}", data=replay, timeout=30)
    assert refused.status_code == 400 and refused.json()["code"] == "nonce"
    attacker.wait_for_url("**/check/done")
    assert attacker.inner_text("#error-title") == "That answer was not for this request"
    assert "replayed" in attacker.inner_text("#error-text")
    _shot(attacker, artifacts, "replayed-response")
    attacker.goto("/account")
    assert attacker.locator("#signed-in").count() == 0  # the attacker is not signed in

    # the same-device flow: the wallet's redirect link opened a second time
    same = chromium.new_context(base_url=live.shop).new_page()
    same.set_default_timeout(15_000)
    same.goto("/")
    same.click("#signin")
    same.wait_for_url("**/check")
    outcome = live.adult.answer(same.get_attribute("#same-device", "href"))
    assert outcome.redirect_uri is not None and "/check/callback?response_code=" in outcome.redirect_uri
    same.goto(outcome.redirect_uri)
    assert same.url.endswith("/account")
    same.goto(outcome.redirect_uri)
    assert same.inner_text("#error-title") == "This link was already used"
    _shot(same, artifacts, "link-used-twice")
    for page in (victim, attacker, same):
        page.context.close()


def _payload(jws: str) -> str:
    import base64

    part = jws.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


def test_the_docs_screenshot_is_small() -> None:
    """docs/img/sign-in.png (made by test_sign_in_with_the_qr_code_link with NETID_UPDATE_DOCS_IMG=1) is a
    PNG small enough to keep in the repository."""
    data = DOCS_SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 150_000
