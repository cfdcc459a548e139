"""In person (specs/protocol.md §9): counter QR → wallet → dynamic QR → counter verifier, and what must fail.

Each negative flips exactly one thing against the round trip: the counter's clock, a second scan, another
counter QR, the counter QR's signature or scope, one byte of the dynamic QR.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netid.credentials.jose import b64url_decode, b64url_encode, decode_jws_unverified, sign_jws
from netid.errors import VERIFICATION_CODES, UsageError, VerificationError, WalletRefusal
from netid.oid4vp.in_person import (
    COUNTER_QR_PREFIX,
    PRESENTATION_QR_PREFIX,
    QR_MAX_BYTES,
    CounterRequest,
    counter_nonce,
    open_counter_request,
    presentation_from_qr,
)
from netid.oid4vp.request import open_request
from netid.policy import Policy
from netid.testing.leaks import find_values, personal_value_forms
from netid.verifier import (
    CachedStatusLists,
    CounterVerifier,
    InMemoryReplayCache,
    Query,
    build_counter_request,
)
from netid.wallet.in_person import answer_counter
from tests.strategies import mutated
from tests.verifier.kit import PERSON, World, fixed_key, make_world, register_rp

AGE_GATE = Query(purpose="age check", age_over=18)
HOTEL = Query(purpose="sign in", age_over=18, name_equals=PERSON.full_name)
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture
def w() -> World:
    world = make_world()
    world.mint(4)
    world.mint(2, kind="rp")
    return world


def counter(w: World, query: Query = AGE_GATE, **kw: Any) -> CounterRequest:
    args: dict[str, Any] = {
        "rp_key": w.rp_key,
        "rp_certificate": w.rp_cert,
        "counter_id": "gate-3",
        "now": w.clock(),
        "rng": w.rng,
    }
    return build_counter_request(query, **(args | kw))


def answer(w: World, qr: str | CounterRequest, *, now: int | None = None, amr: str = "pin") -> str:
    text = qr.to_qr_text() if isinstance(qr, CounterRequest) else qr
    return answer_counter(
        text,
        w.wallet,
        now=w.clock() if now is None else now,
        consent=lambda p: True,
        amr=amr,  # type: ignore[arg-type]
    )


def desk(w: World, window: int | None = None, **kw: Any) -> CounterVerifier:
    if window is not None:
        kw["policy"] = Policy(in_person_window=window)
    return CounterVerifier(w.trust, status=None, clock=w.clock, **kw)


def rejected(verifier: CounterVerifier, qr: str, req: CounterRequest, code: str) -> None:
    with pytest.raises(VerificationError) as exc:
        verifier.verify(qr, req)
    assert exc.value.code == code, exc.value


def refused(w: World, text: str, code: str) -> None:
    before = len(w.wallet.unused())
    with pytest.raises(WalletRefusal) as exc:
        answer(w, text)
    assert exc.value.code == code, exc.value
    assert len(w.wallet.unused()) == before  # a refusal never uses up a credential


def resign_counter(w: World, req: CounterRequest, edit: Any, *, key: Any = None) -> str:
    header, claims, _, _ = decode_jws_unverified(req.request_object)
    edit(claims)
    token = sign_jws(claims, key or w.rp_key, typ=header["typ"], extra_headers={"jwt": header["jwt"]})
    return COUNTER_QR_PREFIX + token


# --- round trips -------------------------------------------------------------------------------------


def test_anonymous_age_gate(w: World) -> None:
    req = counter(w)
    unused = len(w.wallet.unused("anonymous"))
    qr = answer(w, req)
    assert qr.startswith(PRESENTATION_QR_PREFIX)
    answers = desk(w).verify(qr, req)
    assert answers.predicates == {"age_over_18": True}
    assert answers.credential_kind == "anonymous" and answers.subject is None
    assert answers.assurance.mode == "pin"
    assert len(w.wallet.unused("anonymous")) == unused - 1  # single-use credential spent


def test_hotel_desk_name_check(w: World) -> None:
    req = counter(w, HOTEL, counter_id="front-desk-1")
    answers = desk(w).verify(answer(w, req), req)
    assert answers.predicates == {"age_over_18": True, "name_equals": True}


def test_hotel_desk_wrong_name_is_not_proven_and_not_disclosed(w: World) -> None:
    req = counter(w, Query(purpose="sign in", name_equals="李四"))
    qr = answer(w, req)
    assert desk(w).verify(qr, req).predicates == {"name_equals": False}
    assert find_values([qr], personal_value_forms(full_name=PERSON.full_name)) == []


def test_subject_at_a_registered_desk(w: World) -> None:
    req = counter(w, Query(purpose="sign in", name_equals=PERSON.full_name, want_subject=True))
    answers = desk(w).verify(answer(w, req), req)
    assert answers.credential_kind == "rp" and answers.subject is not None
    assert answers.predicates == {"name_equals": True}


def test_bare_presentation_and_scanner_line_break_accepted(w: World) -> None:
    req = counter(w)
    qr = answer(w, req)
    assert desk(w).verify(qr.removeprefix(PRESENTATION_QR_PREFIX), req).predicates["age_over_18"]
    req2 = counter(w)
    assert desk(w).verify(answer(w, req2) + "\r\n", req2).predicates["age_over_18"]


def test_payload_fits_a_qr_code(w: World) -> None:
    req = counter(w, HOTEL)
    qr = answer(w, req)
    # typical 2-predicate presentation: about 1.85 kB (README/spec quote the figure); both QRs fit 40-L
    assert len(qr.encode()) <= QR_MAX_BYTES
    assert len(req.to_qr_text().encode()) <= QR_MAX_BYTES
    assert qr.isascii() and req.to_qr_text().isascii()


def test_counter_request_round_trips_through_storage(w: World) -> None:
    req = counter(w, HOTEL)
    again = CounterRequest.from_dict(json.loads(json.dumps(req.to_dict())))
    assert again == req and again.nonce == req.nonce == counter_nonce(req.request_object)
    assert desk(w).verify(answer(w, req), again).predicates["name_equals"]


def test_counter_request_build_misuse(w: World) -> None:
    with pytest.raises(UsageError):
        counter(w, counter_id="")
    with pytest.raises(UsageError):
        counter(w, counter_id="x" * 65)
    with pytest.raises(UsageError):
        counter(w, Query(purpose="not registered", age_over=18))
    with pytest.raises(UsageError):
        counter(w, rp_key=fixed_key("ES256", "someone else"))
    with pytest.raises(UsageError):
        CounterVerifier(w.trust, status=None, clock=w.clock, policy=Policy(in_person_window=0))


# --- the window --------------------------------------------------------------------------------------


def test_window_edges_accepted(w: World) -> None:
    req = counter(w)
    now = w.clock()
    old = answer(w, req, now=now - 30)
    new = answer(w, req, now=now + 30)
    assert desk(w).verify(old, req).predicates["age_over_18"]
    assert desk(w).verify(new, req).predicates["age_over_18"]


def test_presentation_too_old(w: World) -> None:
    req = counter(w)
    qr = answer(w, req)
    w.clock.now += 31
    rejected(desk(w), qr, req, "window")


def test_presentation_too_new(w: World) -> None:
    req = counter(w)
    qr = answer(w, req, now=w.clock() + 31)  # the holder's clock runs ahead of the counter's
    rejected(desk(w), qr, req, "window")


def test_window_is_configurable(w: World) -> None:
    req = counter(w)
    qr = answer(w, req, now=w.clock() - 11)
    rejected(desk(w, window=10), qr, req, "window")
    assert desk(w, window=12).verify(qr, req).predicates["age_over_18"]


# --- single use --------------------------------------------------------------------------------------


def test_replay_within_window(w: World) -> None:
    req = counter(w)
    qr = answer(w, req)
    verifier = desk(w)
    verifier.verify(qr, req)
    w.clock.now += 29
    rejected(verifier, qr, req, "nonce_reused")
    rejected(verifier, qr.removeprefix(PRESENTATION_QR_PREFIX), req, "nonce_reused")


def test_replay_at_the_last_window_second_and_after(w: World) -> None:
    """The window is inclusive (iat + W still accepted) and the cache remembers through that second."""
    req = counter(w)
    qr = answer(w, req)  # KB-JWT iat = now
    kb_iat = w.clock()
    cache = InMemoryReplayCache(w.clock)
    verifier = desk(w, replay_cache=cache)
    verifier.verify(qr, req)
    w.clock.now = kb_iat + 30  # the last second the window accepts: a replay is still caught
    rejected(verifier, qr, req, "nonce_reused")
    w.clock.now = kb_iat + 31  # the window refuses from here on, and only now may the cache forget
    rejected(verifier, qr, req, "window")
    assert cache.consume("probe", w.clock()) and len(cache) == 1  # the presentation's entry is gone


def test_first_use_at_the_last_window_second(w: World) -> None:
    req = counter(w)
    qr = answer(w, req)
    w.clock.now += 30
    verifier = desk(w)
    assert verifier.verify(qr, req).predicates["age_over_18"]
    rejected(verifier, qr, req, "nonce_reused")


def test_replay_with_re_encoded_ecdsa_signature(w: World) -> None:
    """(r, n − s) is a second valid P-256 signature over the same KB-JWT; it is the same presentation."""
    req = counter(w)
    qr = answer(w, req)
    head, _, kb = qr.rpartition("~")
    signing_input, _, sig64 = kb.rpartition(".")
    sig = b64url_decode(sig64)
    r, s = sig[:32], int.from_bytes(sig[32:], "big")
    twin = f"{head}~{signing_input}.{b64url_encode(r + (P256_N - s).to_bytes(32, 'big'))}"
    assert twin != qr
    verifier = desk(w)
    verifier.verify(qr, req)
    rejected(verifier, twin, req, "nonce_reused")


def test_replay_cache_forgets_after_window(w: World) -> None:
    req = counter(w)
    cache = InMemoryReplayCache(w.clock)
    verifier = desk(w, replay_cache=cache)
    first = answer(w, req)
    verifier.verify(first, req)
    assert len(cache) == 1
    w.clock.now += 31
    rejected(verifier, first, req, "window")  # outside the window: the cache entry is no longer needed
    verifier.verify(answer(w, req), req)  # the same counter QR serves the next holder
    assert len(cache) == 1  # the first entry expired


def test_two_holders_same_counter_qr(w: World) -> None:
    req = counter(w)
    verifier = desk(w)
    verifier.verify(answer(w, req), req)
    verifier.verify(answer(w, req), req)


# --- binding to the counter --------------------------------------------------------------------------


def test_presentation_for_another_counter_qr(w: World) -> None:
    shown = counter(w)
    other = counter(w)  # same RP, query and counter id; a different QR (jti)
    rejected(desk(w), answer(w, other), shown, "nonce")
    rejected(desk(w), answer(w, counter(w, counter_id="gate-4")), shown, "nonce")


def test_presentation_for_another_rp(w: World) -> None:
    other_key = fixed_key("ES256", "rp-cinema")
    other_cert = register_rp(w, "cinema.example", other_key)
    theirs = build_counter_request(
        AGE_GATE, rp_key=other_key, rp_certificate=other_cert, counter_id="gate-3", now=w.clock(), rng=w.rng
    )
    rejected(desk(w), answer(w, theirs), counter(w), "aud")


def test_online_verifier_and_wallet_keep_the_modes_apart(w: World) -> None:
    req = counter(w)
    with pytest.raises(VerificationError) as exc:
        open_request(req.request_object, trust=w.trust, now=w.clock())
    assert exc.value.code == "request"
    online = w.request(AGE_GATE)
    refused(w, online.request_object, "request")
    refused(w, COUNTER_QR_PREFIX + online.request_object, "request")


def test_counter_request_expired_at_the_counter(w: World) -> None:
    req = counter(w, ttl=600)
    qr = answer(w, req)
    w.clock.now += 600 + 61
    rejected(desk(w), qr, req, "request")


# --- the wallet refuses ------------------------------------------------------------------------------


def test_unsigned_counter_qr(w: World) -> None:
    req = counter(w)
    _, claims, _, _ = decode_jws_unverified(req.request_object)
    refused(w, COUNTER_QR_PREFIX + json.dumps(claims), "request")
    _, payload64, _ = req.request_object.split(".")
    none_header = b64url_encode(json.dumps({"alg": "none", "typ": "netid-counter+jwt"}).encode())
    refused(w, f"{COUNTER_QR_PREFIX}{none_header}.{payload64}.", "algorithm")


def test_counter_qr_signed_by_another_key(w: World) -> None:
    text = resign_counter(w, counter(w), lambda c: None, key=fixed_key("ES256", "not the rp"))
    refused(w, text, "request_signature")


def test_counter_qr_predicate_outside_certificate() -> None:
    w = make_world(scopes=("age_over", "name_equals"))
    w.mint(2)
    req = counter(w)
    online = make_world().request(
        Query(purpose="age check", age_over=18, id_number_equals=PERSON.personal_number)
    )
    _, online_claims, _, _ = decode_jws_unverified(online.request_object)

    def widen(claims: dict[str, Any]) -> None:
        claims["dcql_query"] = online_claims["dcql_query"]

    refused(w, resign_counter(w, req, widen), "rp_scope")


def test_counter_qr_from_untrusted_issuer(w: World) -> None:
    rogue = make_world("ES256")  # another issuer key, same names
    req = build_counter_request(
        AGE_GATE, rp_key=rogue.rp_key, rp_certificate=rogue.rp_cert, counter_id="gate-3", now=w.clock()
    )
    refused(w, req.to_qr_text(), "rp_certificate")


def test_counter_qr_client_id_and_purpose(w: World) -> None:
    req = counter(w)
    refused(w, resign_counter(w, req, lambda c: c.update(client_id="verifier_attestation:bank")), "client_id")
    refused(w, resign_counter(w, req, lambda c: c["netid"].update(purpose="marketing")), "purpose")
    refused(w, resign_counter(w, req, lambda c: c.pop("counter_id")), "request")


def test_counter_qr_expired_for_the_wallet(w: World) -> None:
    req = counter(w, ttl=60)
    with pytest.raises(WalletRefusal) as exc:
        answer(w, req, now=w.clock() + 60 + 61)
    assert exc.value.code == "request"


def test_consent_denied_and_mode(w: World) -> None:
    req = counter(w, Query(purpose="age check", age_over=18, min_mode="face"))
    refused(w, req.to_qr_text(), "mode_unavailable")  # the helper answers with amr=pin
    before = len(w.wallet.unused())
    with pytest.raises(WalletRefusal) as exc:
        answer_counter(counter(w).to_qr_text(), w.wallet, now=w.clock(), consent=lambda p: False, amr="pin")
    assert exc.value.code == "consent_denied" and len(w.wallet.unused()) == before


def test_consent_prompt_names_the_rp_from_its_certificate(w: World) -> None:
    prompts: list[str] = []

    def consent(prompt: Any) -> bool:
        prompts.append(prompt.text("en"))
        return True

    answer_counter(counter(w, HOTEL).to_qr_text(), w.wallet, now=w.clock(), consent=consent, amr="pin")
    assert "Example Shop" in prompts[0] and "18 or older" in prompts[0]
    assert PERSON.full_name not in prompts[0]


# --- tampering ---------------------------------------------------------------------------------------


def test_tampered_kb_jwt_payload(w: World) -> None:
    req = counter(w)
    qr = answer(w, req)
    head, _, kb = qr.rpartition("~")
    h64, p64, s64 = kb.split(".")
    payload = json.loads(b64url_decode(p64))
    payload["amr"] = ["hwk", "pin", "face"]
    forged = f"{head}~{h64}.{b64url_encode(json.dumps(payload).encode())}.{s64}"
    rejected(desk(w), forged, req, "kb_signature")


def test_dropped_disclosure(w: World) -> None:
    req = counter(w, HOTEL)
    qr = answer(w, req)
    parts = qr.split("~")
    without_one = "~".join(parts[:1] + parts[2:])  # remove the first disclosure
    rejected(desk(w), without_one, req, "sd_hash")


def test_not_a_dynamic_qr(w: World) -> None:
    req = counter(w)
    for text in ("", "NETIDP1:", "https://example.com", "x" * (QR_MAX_BYTES + 10), req.to_qr_text()):
        with pytest.raises(VerificationError) as exc:
            desk(w).verify(text, req)
        assert exc.value.code == "malformed"
    with pytest.raises(VerificationError):
        presentation_from_qr(None)  # type: ignore[arg-type]


def test_revoked_credential_at_the_counter(w: World) -> None:
    req = counter(w)
    qr = answer(w, req)
    for index in w.used_indices:
        w.status.set(index, 1)
    verifier = CounterVerifier(
        w.trust, status=CachedStatusLists(w.fetch_status, w.trust, clock=w.clock), clock=w.clock
    )
    rejected(verifier, qr, req, "status_revoked")


# --- privacy -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", [AGE_GATE, HOTEL, Query(purpose="age check", age_over=18, region_in=["44"])]
)
def test_dynamic_qr_never_carries_personal_number_or_birth_date(w: World, query: Query) -> None:
    req = counter(w, query)
    qr = answer(w, req)
    answers = desk(w).verify(qr, req)
    forbidden = personal_value_forms(
        personal_number=PERSON.personal_number, date_of_birth=PERSON.date_of_birth
    )
    assert find_values([qr, req.to_qr_text(), repr(answers), repr(req)], forbidden) == []
    if query.name_equals is None:  # the name appears only when the counter supplied it to compare
        assert find_values([qr, req.to_qr_text()], personal_value_forms(full_name=PERSON.full_name)) == []


# --- properties --------------------------------------------------------------------------------------

_PW: World = make_world()
_PW.mint(1)
_PW_REQ = counter(_PW, HOTEL)
_PW_QR = answer(_PW, _PW_REQ)
_PW_ANSWERS = CounterVerifier(_PW.trust, status=None, clock=_PW.clock).verify(_PW_QR, _PW_REQ)


@settings(max_examples=300, deadline=None)
@given(mutated(_PW_QR))
def test_mutated_dynamic_qr_only_verification_errors(text: str) -> None:
    verifier = CounterVerifier(_PW.trust, status=None, clock=_PW.clock)  # a fresh replay cache each time
    try:
        answers = verifier.verify(text, _PW_REQ)
    except VerificationError as exc:
        assert exc.code in VERIFICATION_CODES
        return
    assert answers == _PW_ANSWERS  # a mutation that still verifies changed nothing that matters


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=400), mutated(_PW_REQ.to_qr_text())))
def test_mutated_counter_qr_only_verification_errors(text: str) -> None:
    try:
        opened = open_counter_request(text, trust=_PW.trust, now=_PW.clock())
    except VerificationError as exc:
        assert exc.code in VERIFICATION_CODES
        return
    assert opened.predicates == _PW_REQ.predicates and opened.client_id == _PW_REQ.client_id


# --- rendering (optional extra "qr") -----------------------------------------------------------------


def test_both_qr_codes_render(w: World) -> None:
    segno = pytest.importorskip("segno")
    req = counter(w, HOTEL)
    qr = answer(w, req)
    for text in (req.to_qr_text(), qr):
        code = segno.make_qr(text.encode("ascii"), error="L", boost_error=False)
        assert code.version <= 40 and code.mode == "byte"
    # the dynamic QR still fits with 15 % error correction (M), which phone-screen scanning prefers
    assert segno.make_qr(qr.encode("ascii"), error="M", boost_error=False).version <= 40


# --- issue 8 --------------------------------------------------------------------------------------------


def test_counter_qr_without_dcql_query(w: World) -> None:
    """Issue 8 item 3: a counter QR without dcql_query raised KeyError from answer_counter."""
    refused(w, resign_counter(w, counter(w), lambda c: c.pop("dcql_query")), "request")


def test_counter_qr_lifetime_is_bounded(w: World) -> None:
    """Issue 8 item 6: a counter QR living longer than Policy.max_counter_request_lifetime (7 days)."""
    req = counter(w)
    refused(w, resign_counter(w, req, lambda c: c.update(exp=c["iat"] + 7 * 86_400 + 1)), "request")
    answer(w, resign_counter(w, req, lambda c: c.update(exp=c["iat"] + 7 * 86_400)))


def test_counter_qr_asks_one_age_threshold(w: World) -> None:
    """Issue 8 item 6: several thresholds in one counter QR reveal an age bracket."""
    from netid.oid4vp.dcql import age_predicate, build_dcql

    def bracket(c: dict[str, Any]) -> None:
        q = build_dcql([age_predicate(18)])
        second = build_dcql([age_predicate(14)])["credentials"][0]
        q["credentials"].insert(0, second)
        q["credential_sets"].insert(0, {"options": [[second["id"]]], "required": False})
        c["dcql_query"] = q

    refused(w, resign_counter(w, counter(w), bracket), "rp_scope")


def test_counter_refusal_message_names_its_code_once(w: World) -> None:
    """Issue 8 item 7: "request: request: …"."""
    with pytest.raises(WalletRefusal) as exc:
        answer(w, "NETIDC1:not a jws")
    assert str(exc.value).count("request:") == 1
