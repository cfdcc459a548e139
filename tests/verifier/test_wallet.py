"""The wallet refuses (never warns): unsigned/unregistered requests, scope, response URI, consent."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from netid.errors import WalletRefusal
from netid.verifier import Query
from netid.wallet import ConsentPrompt, SoftwareKeyStore, Wallet, build_consent_prompt
from netid.wallet.consent import ConsentItem
from tests.verifier.kit import NOW, PERSON, World, fixed_key, make_world, resign

AGE = Query(purpose="age check", age_over=18)


@pytest.fixture
def w() -> World:
    world = make_world()
    world.mint(2)
    return world


def refused(w: World, request: str, code: str, **kw: Any) -> None:
    args: dict[str, Any] = {"now": w.clock(), "consent": lambda p: True, "amr": "pin"} | kw
    before = len(w.wallet.unused())
    with pytest.raises(WalletRefusal) as exc:
        w.wallet.present(request, **args)
    assert exc.value.code == code
    assert len(w.wallet.unused()) == before  # a refusal never uses up a credential


def test_unsigned_request(w: World) -> None:
    req = w.request(AGE)
    plain = "openid4vp://?" + urllib.parse.urlencode(
        {"client_id": req.client_id, "response_type": "vp_token", "nonce": req.nonce, "response_uri": "x"}
    )
    refused(w, plain, "request")
    refused(w, "https://shop.example/hello", "request")


def test_alg_none_request(w: World) -> None:
    req = w.request(AGE)
    h, p, _ = req.request_object.split(".")
    import base64
    import json

    header = json.loads(base64.urlsafe_b64decode(h + "=="))
    header["alg"] = "none"
    h2 = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    refused(w, f"{h2}.{p}.", "algorithm")


def test_request_signed_by_another_key(w: World) -> None:
    req = w.request(AGE)
    refused(w, resign(w, req, lambda c: None, key=fixed_key("ES256", "mitm")), "request_signature")


def test_unregistered_rp(w: World) -> None:
    stranger = make_world("ES256")  # an RP certified by an issuer the wallet does not trust
    req = stranger.request(AGE)
    refused(w, req.to_uri(), "rp_certificate")


def test_missing_certificate(w: World) -> None:
    req = w.request(AGE)
    refused(w, resign(w, req, lambda c: None, header_edit=lambda h: h.pop("jwt")), "rp_certificate")


def test_expired_certificate(w: World) -> None:
    req = w.request(AGE)
    refused(w, req.to_uri(), "rp_certificate", now=NOW + 400 * 86_400)


def test_predicate_outside_certificate() -> None:
    w = make_world(scopes=("age_over_18",))
    w.mint(1)
    req = w.request(AGE)
    from netid.oid4vp.dcql import age_predicate, build_dcql

    def widen(c: dict[str, Any]) -> None:
        c["dcql_query"] = build_dcql([age_predicate(16)])

    refused(w, resign(w, req, widen), "rp_scope")


def test_response_uri_not_registered(w: World) -> None:
    req = w.request(AGE)
    refused(
        w, resign(w, req, lambda c: c.update(response_uri="https://evil.example/collect")), "response_uri"
    )


def test_client_id_mismatch(w: World) -> None:
    req = w.request(AGE)
    refused(w, resign(w, req, lambda c: c.update(client_id="verifier_attestation:bank")), "client_id")
    uri = "openid4vp://?" + urllib.parse.urlencode(
        {"client_id": "x509_san_dns:bank", "request": req.request_object}
    )
    refused(w, uri, "client_id")


def test_unregistered_purpose(w: World) -> None:
    req = w.request(AGE)
    refused(w, resign(w, req, lambda c: c["netid"].update(purpose="marketing")), "purpose")


def test_expired_request(w: World) -> None:
    req = w.request(AGE)
    refused(w, req.to_uri(), "request", now=w.clock() + 1000)


def test_wrong_response_mode(w: World) -> None:
    req = w.request(AGE)
    refused(w, resign(w, req, lambda c: c.update(response_mode="fragment")), "request")


def test_consent_denied(w: World) -> None:
    refused(w, w.request(AGE).to_uri(), "consent_denied", consent=lambda p: False)


def test_mode_unavailable(w: World) -> None:
    req = w.request(Query(purpose="age check", age_over=18, min_mode="face"))
    refused(w, req.to_uri(), "mode_unavailable", amr="pin")


def test_single_use_batch(w: World) -> None:
    for _ in range(2):
        req = w.request(AGE)
        w.present(req)
    assert w.wallet.unused() == []
    assert len(w.wallet.keystore) == 0  # type: ignore[arg-type]  # keys deleted after use
    refused(w, w.request(AGE).to_uri(), "no_credential")


def test_rp_scoped_credential_never_answers_anonymous_request() -> None:
    w = make_world()
    w.mint(1, kind="rp")
    refused(w, w.request(AGE).to_uri(), "no_credential")
    w2 = make_world()
    w2.mint(1)
    refused(w2, w2.request(Query(purpose="sign in", want_subject=True)).to_uri(), "no_credential")
    w3 = make_world()
    w3.mint(1, kind="rp", sector="bank.example")  # RP-scoped, but for another sector
    refused(w3, w3.request(Query(purpose="sign in", want_subject=True)).to_uri(), "no_credential")


def test_netno_needs_a_credential_that_has_it() -> None:
    w = make_world()
    w.mint(1, kind="rp")  # minted without include_netno
    refused(w, w.request(Query(purpose="sign in", want_netno=True)).to_uri(), "no_credential")


def test_netno_request_skips_a_same_sector_credential_without_netno() -> None:
    """Review A4: an earlier sign-in batch (no netno) must not hide a real-name batch for the sector."""
    w = make_world()
    w.mint(1, kind="rp")  # sign-in batch, no netno; held first
    w.mint(1, kind="rp", include_netno=True)  # real-name batch for the same sector
    req = w.request(Query(purpose="sign in", want_subject=True, want_netno=True))
    answers = w.verifier.verify(w.present(req), req)
    assert answers.netno is not None and answers.subject is not None
    assert [c.used for c in w.wallet.credentials] == [False, True]
    # a plain sign-in still uses the first eligible credential (either one may answer it)
    req = w.request(Query(purpose="sign in", want_subject=True))
    w.verifier.verify(w.present(req), req)
    assert [c.used for c in w.wallet.credentials] == [True, True]


def test_request_uri_fetch_failure(w: World) -> None:
    req = w.request(AGE)

    def fetch(uri: str) -> str:
        raise OSError("offline")

    refused(w, req.to_uri("https://shop.example/r/1"), "request", fetch=fetch)
    refused(w, req.to_uri("https://shop.example/r/1"), "request")  # no fetch callable


def test_consent_prompt_plain_words_without_values(w: World) -> None:
    q = Query(
        purpose="sign in", age_over=18, name_equals="张三丰", id_number_equals=PERSON.personal_number,
        region_in=["44"], want_subject=True, min_mode="face",
    )  # fmt: skip
    prompt = build_consent_prompt(w.request(q))
    seen: list[ConsentPrompt] = []
    zh, en = prompt.text("zh"), prompt.text("en")
    assert "Example Shop" in zh and "年满18周岁" in zh and "刷脸" in zh and "是否同意" in zh
    assert "18 or older" in en and "your face" in en and "will not see your date of birth" in en
    assert "will not see your ID number" in build_consent_prompt(w.request(AGE)).text("en")
    for text in (zh, en):
        assert "张三丰" not in text and PERSON.personal_number not in text
    assert [i.predicate for i in prompt.items] == [
        "age_over_18", "name_equals", "id_number_equals", "region_in", "subject",
    ]  # fmt: skip
    assert all(isinstance(i, ConsentItem) and i.en and i.zh for i in prompt.items)
    w2 = make_world()
    w2.mint(1)
    req = w2.request(AGE)
    w2.wallet.present(req.to_uri(), now=w2.clock(), consent=lambda p: seen.append(p) or True, amr="pin")
    assert seen[0].rp_name == "Example Shop" and seen[0].purpose == "age check"


def test_software_keystore_persists(tmp_path: Any) -> None:
    path = tmp_path / "keys.json"
    ks = SoftwareKeyStore(path, passphrase=b"TEST passphrase")
    kid = ks.create_key()
    again = SoftwareKeyStore(path, passphrase=b"TEST passphrase")
    assert again.public_jwk(kid) == ks.public_jwk(kid)
    assert (path.stat().st_mode & 0o777) == 0o600
    again.delete_key(kid)
    assert kid not in SoftwareKeyStore(path, passphrase=b"TEST passphrase")


def test_wallet_rejects_credentials_for_foreign_keys() -> None:
    w = make_world()
    creds = w.mint(1)
    other = Wallet(SoftwareKeyStore(), w.trust, rp_status="offline")
    from netid.errors import UsageError

    with pytest.raises(UsageError):
        other.add_credentials(creds)


def test_unknown_amr_is_a_usage_error(w: World) -> None:
    from netid.errors import UsageError

    with pytest.raises(UsageError):
        w.wallet.present(w.request(AGE).to_uri(), now=w.clock(), consent=lambda p: True, amr="retina")  # type: ignore[arg-type]


def _rp_world_with_status(rp_status_value: int | None) -> tuple[World, Any]:
    """A world whose RP certificate carries a status entry (protocol.md §4), and a wallet status source."""
    from netid.verifier import CachedStatusLists
    from tests.verifier.kit import STATUS_URI, register_rp

    w = make_world()
    w.rp_cert = register_rp(
        w, "shop.example", w.rp_key, scopes=("age_over", "subject"), now=NOW - 1000, status=(STATUS_URI, 4242)
    )
    if rp_status_value is not None:
        w.status.set(4242, rp_status_value)
    w.wallet.rp_status = CachedStatusLists(w._fetch_status_late, w.trust, clock=w.clock)
    w.mint(1)
    return w, w.request(Query(purpose="age check", age_over=18))


def test_wallet_refuses_a_revoked_rp() -> None:
    """A revoked RP: the RP certificate's status entry is checked by a wallet with a source."""
    for value in (1, 2):  # INVALID, SUSPENDED
        w, req = _rp_world_with_status(value)
        refused(w, req.to_uri(), "rp_certificate")
        # the in-person mode checks it too
        from netid.verifier import build_counter_request
        from netid.wallet.in_person import answer_counter

        desk = build_counter_request(
            Query(purpose="age check", age_over=18),
            rp_key=w.rp_key,
            rp_certificate=w.rp_cert,
            counter_id="gate-1",
            now=w.clock(),
            rng=w.rng,
        )
        with pytest.raises(WalletRefusal) as exc:
            answer_counter(desk.to_qr_text(), w.wallet, now=w.clock(), consent=lambda p: True, amr="pin")
        assert exc.value.code == "rp_certificate" and len(w.wallet.unused()) == 1
    w, req = _rp_world_with_status(None)  # VALID
    assert w.verifier.verify(w.present(req), req)["age_over_18"]


def test_wallet_refuses_when_rp_status_cannot_be_determined() -> None:
    w, req = _rp_world_with_status(None)

    def down(uri: str) -> str:
        raise OSError("issuer unreachable")

    w.fetch_status = down  # type: ignore[method-assign]
    refused(w, req.to_uri(), "rp_certificate")
    w.wallet.rp_status = "offline"  # a wallet made offline on purpose does not check (nor fetch)
    vp = w.present(req)
    del w.fetch_status  # the issuer is back for the RP's own credential status check
    assert w.verifier.verify(vp, req)["age_over_18"]


def test_rp_certificate_with_malformed_status_is_refused() -> None:
    from netid.credentials.jose import decode_jws_unverified, sign_jws
    from netid.oid4vp import parse_rp_certificate

    w = make_world()
    _h, claims, _, _ = decode_jws_unverified(w.rp_cert)
    key = w.profile.keys.rp_certificate
    bad = sign_jws(claims | {"status": {"status_list": {"idx": -1, "uri": "x"}}}, key.key,
                   typ="netid-rp+jwt", kid=key.kid)  # fmt: skip
    with pytest.raises(Exception) as exc:
        parse_rp_certificate(bad, w.trust, NOW)
    assert getattr(exc.value, "code", None) == "rp_certificate"
    assert parse_rp_certificate(w.rp_cert, w.trust, NOW).status is None


# --- issue 8: only the documented exceptions (item 3) ---------------------------------------------------


def test_signed_request_without_dcql_query(w: World) -> None:
    """Issue 8 item 3: a signed request without dcql_query raised KeyError from Wallet.present."""
    refused(w, resign(w, w.request(AGE), lambda c: c.pop("dcql_query")), "request")


@pytest.mark.parametrize(
    "text", ["openid4vp://[?request=x", "openid4vp://?request=%", "openid4vp://x:99999/"]
)
def test_malformed_request_uri_is_a_refusal(w: World, text: str) -> None:
    """Issue 8 item 3: ``openid4vp://[?request=x`` raised ValueError (urlsplit) out of Wallet.present."""
    refused(w, text, "request")


# --- issue 8: secure by default in the wallet (item 6) -------------------------------------------------


def test_request_lifetime_is_bounded(w: World) -> None:
    """Issue 8 item 6: a long-lived request is a replayable lure; the wallet refuses one living longer than
    Policy.max_request_lifetime (default 3600 s)."""
    req = w.request(AGE)
    refused(w, resign(w, req, lambda c: c.update(exp=c["iat"] + 3601)), "request")
    ok = resign(w, req, lambda c: c.update(exp=c["iat"] + 3600))
    w.wallet.present(ok, now=w.clock(), consent=lambda p: True, amr="pin")


def test_one_request_asks_one_age_threshold(w: World) -> None:
    """Issue 8 item 6: several thresholds in one request reveal an age bracket (14/16/18 together)."""
    from netid.oid4vp.dcql import age_predicate, build_dcql

    req = w.request(AGE)

    def bracket(c: dict[str, Any]) -> None:
        q = build_dcql([age_predicate(18)])
        second = build_dcql([age_predicate(16)])["credentials"][0]
        q["credentials"].insert(0, second)
        q["credential_sets"].insert(0, {"options": [[second["id"]]], "required": False})
        c["dcql_query"] = q

    refused(w, resign(w, req, bracket), "rp_scope")


# --- issue 8: silent wrong answers (item 5) -------------------------------------------------------------


def test_wallet_refuses_a_threshold_outside_the_certificate(w: World) -> None:
    """Issue 8 item 5: age_over_21 is not minted (14/16/18/60): refused, not answered False."""
    from netid.oid4vp.dcql import age_predicate, build_dcql

    req = w.request(AGE)
    refused(w, resign(w, req, lambda c: c.update(dcql_query=build_dcql([age_predicate(21)]))), "rp_scope")


def test_wallet_refuses_values_of_another_json_type(w: World) -> None:
    """Issue 8 item 5: ``values: [1]`` was read as ``[true]`` and the wallet disclosed age_over_18."""

    def one(c: dict[str, Any]) -> None:
        for cq in c["dcql_query"]["credentials"]:
            for claim in cq.get("claims", []):
                claim["values"] = [1]

    refused(w, resign(w, w.request(AGE), one), "request")


@pytest.mark.parametrize(
    "typed", ["阿依古丽·买买提", "阿依古丽•买买提", "阿依古丽・买买提", "阿依古丽 ‧ 买买提"]
)
def test_a_name_typed_with_another_middle_dot_answers_yes(typed: str) -> None:
    """Issue 8 item 5: names compared byte for byte, so another middle dot answered no."""
    from tests.verifier.kit import test_person

    w = make_world()
    w.mint(1, attrs=test_person(full_name="阿依古丽・买买提"))  # the card writes U+30FB
    req = w.request(Query(purpose="sign in", name_equals=typed))
    assert w.verifier.verify(w.present(req), req)["name_equals"] is True


# --- issue 8: refusal messages say their code once (item 7) ---------------------------------------------


def test_refusal_message_names_its_code_once(w: World) -> None:
    with pytest.raises(WalletRefusal) as exc:
        w.wallet.present("https://shop.example/hello", now=w.clock(), consent=lambda p: True, amr="pin")
    assert str(exc.value) == "request: not an openid4vp:// URI or a request object"
    assert exc.value.message == "not an openid4vp:// URI or a request object"


# --- issue 8: OpenID4VP 1.0 (item 11) -------------------------------------------------------------------


def test_wallet_answers_every_satisfied_credential_query_with_one_presentation(w: World) -> None:
    """The vp_token names every credential query the wallet answers (OpenID4VP 1.0 §8.1), all with the one
    presentation of the one credential used; a comparison that does not match has no entry."""
    from netid.oid4vp.response import presentation_from_vp_token

    req = w.request(Query(purpose="age check", age_over=18, name_equals="李四", region_in=["44"]))
    response = w.wallet.present(req.to_uri(), now=w.clock(), consent=lambda p: True, amr="pin")
    vp = dict(response.vp_token)
    assert set(vp) == {"netcert", "age_over_18", "region_in"}
    assert len({p for v in vp.values() for p in v}) == 1
    assert presentation_from_vp_token(vp, req, max_bytes=16_384) == vp["netcert"][0]
    assert presentation_from_vp_token(response.form()["vp_token"], req, max_bytes=16_384) == vp["netcert"][0]


@pytest.mark.parametrize(
    "shape",
    [
        lambda p: {"age_over_18": [p]},  # the required base query unanswered
        lambda p: {"netcert": [p], "name_equals": [p]},  # a query the request did not make
        lambda p: {"netcert": [p], "age_over_18": [p + "x"]},  # two presentations: one credential only
        lambda p: {"netcert": [p, p]},
        lambda p: {"netcert": p},
        lambda p: {"netcert": [p], "age_over_18": []},
        lambda p: [p],
        lambda p: "{not json",
    ],
)
def test_presentation_from_vp_token_refuses_other_shapes(w: World, shape: Any) -> None:
    from netid.errors import VerificationError
    from netid.oid4vp.response import presentation_from_vp_token

    req = w.request(AGE)
    p = dict(w.wallet.present(req.to_uri(), now=w.clock(), consent=lambda q: True, amr="pin").vp_token)
    with pytest.raises(VerificationError) as exc:
        presentation_from_vp_token(shape(p["netcert"][0]), req, max_bytes=16_384)
    assert exc.value.code == "malformed"


def test_wallet_tolerates_and_checks_client_metadata(w: World) -> None:
    req = w.request(AGE)
    w.wallet.present(resign(w, req, lambda c: c.pop("client_metadata")), now=w.clock(),
                     consent=lambda p: True, amr="pin")  # absent: NetID's formats are known  # fmt: skip
    for bad in (
        "dc+sd-jwt",
        {"vp_formats_supported": {"mso_mdoc": {}}},
        {"vp_formats_supported": {"dc+sd-jwt": {"kb-jwt_alg_values": ["RS256"]}}},
        {"vp_formats_supported": {"dc+sd-jwt": {"sd-jwt_alg_values": []}}},
    ):
        refused(w, resign(w, req, lambda c, bad=bad: c.update(client_metadata=bad)), "request")


def test_wallet_uses_a_credential_the_verifier_can_check(w: World) -> None:
    """kb-jwt_alg_values names the holder-key algorithms the verifier accepts: an ES256-bound credential is
    not offered to a verifier that lists only EdDSA."""
    req = w.request(AGE)
    eddsa_only = {"vp_formats_supported": {"dc+sd-jwt": {"kb-jwt_alg_values": ["EdDSA"]}}}
    refused(w, resign(w, req, lambda c: c.update(client_metadata=eddsa_only)), "no_credential")
    w.mint(1, holder_alg="EdDSA")
    w.wallet.present(resign(w, req, lambda c: c.update(client_metadata=eddsa_only)), now=w.clock(),
                     consent=lambda p: True, amr="pin")  # fmt: skip
    assert [c.used for c in w.wallet.credentials] == [False, False, True]


def test_wallet_refuses_http_response_uri_unless_in_development_mode() -> None:
    """Issue 8 item 11: an http:// response URI was accepted; https is required, loopback http only in an
    explicit development mode (Wallet(allow_loopback_http=True), for an RP certified in that mode)."""
    from tests.verifier.kit import register_rp

    w = make_world()
    w.mint(2)
    loopback = "http://127.0.0.1:8000/netid/response"
    w.rp_cert = register_rp(w, "shop.example", w.rp_key, response_uris=(loopback,), allow_loopback_http=True)
    req = w.request(AGE, response_uri=loopback)
    refused(w, req.to_uri(), "response_uri")
    dev = Wallet(w.wallet.keystore, w.trust, rp_status="offline", allow_loopback_http=True)
    dev.credentials = w.wallet.credentials
    response = dev.present(req.to_uri(), now=w.clock(), consent=lambda p: True, amr="pin")
    assert response.response_uri == loopback
    # plain http to another host: refused even in development mode (a certificate of an older issuer)
    from netid.credentials.jose import decode_jws_unverified, sign_jws
    from netid.oid4vp.certificate import RP_CERT_TYP

    plain = "http://shop.example/netid/response"
    _h, claims, _, _ = decode_jws_unverified(w.rp_cert)
    key = w.profile.keys.rp_certificate
    old_cert = sign_jws(claims | {"response_uris": [plain]}, key.key, typ=RP_CERT_TYP, kid=key.kid)
    token = resign(
        w, req, lambda c: c.update(response_uri=plain), header_edit=lambda h: h.update(jwt=old_cert)
    )
    with pytest.raises(WalletRefusal) as exc:
        dev.present(token, now=w.clock(), consent=lambda p: True, amr="pin")
    assert exc.value.code == "response_uri"
