"""The verifier at its edges: the vp_token's shape, an assurance mode exactly at the minimum, status index 0,
the status-list token's JSON types, the size cap, and the order of the steps (``specs/protocol.md`` §7):
each order test gives one presentation two faults and pins which is reported."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from netid.credentials.sdjwt.codec import Disclosure, b64url_encode
from netid.credentials.sdjwt.present import present_sd_jwt
from netid.credentials.status_list import INVALID, VALID, StatusList
from netid.errors import VerificationError
from netid.oid4vp.modes import MODES
from netid.policy import Policy
from netid.verifier import PresentationRequest, Query, Verifier
from netid.verifier.replay import InMemoryReplayCache
from tests.credentials._sdjwt_helpers import assert_deliberate
from tests.verifier.kit import World, fixed_key, hand_present, kb_jwt, make_world, mint_raw

HOLDER = fixed_key("ES256", "order-holder")
OTHER = fixed_key("ES256", "order-other")
AGE = Query(purpose="age check", age_over=18)


@pytest.fixture
def w() -> World:
    return make_world()


def rejects(w: World, vp: Any, req: PresentationRequest, code: str, verifier: Verifier | None = None) -> None:
    with pytest.raises(VerificationError) as exc:
        (verifier or w.verifier).verify(vp, req)
    assert_deliberate(exc.value)
    assert exc.value.code == code


def setup(w: World, query: Query = AGE, **mint_kw: Any) -> tuple[str, PresentationRequest]:
    return mint_raw(w, [HOLDER], **mint_kw)[0], w.request(query)


# --- vp_token with extra members ----------------------------------------------------------------------


def test_vp_token_with_a_member_the_request_did_not_ask_for(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",))
    p = vp["netcert"][0]
    rejects(w, {**vp, "age_over_21": [p]}, req, "malformed")
    rejects(w, {**vp, "presentation_submission": [p]}, req, "malformed")
    rejects(w, json.dumps({**vp, "extra": [p]}), req, "malformed")  # as posted, too
    assert w.verifier.verify(vp, req)["age_over_18"]  # the same presentation alone verifies


def test_vp_token_whose_members_carry_different_presentations(w: World) -> None:
    cred, req = setup(w)
    first = hand_present(cred, HOLDER, req, claims=("age_over_18",))["netcert"][0]
    second = hand_present(cred, HOLDER, req, claims=())["netcert"][0]
    rejects(w, {"netcert": [second], "age_over_18": [first]}, req, "malformed")
    rejects(w, {"netcert": [first], "age_over_18": [first, first]}, req, "malformed")
    rejects(w, {"age_over_18": [first]}, req, "malformed")  # no base query answer
    assert w.verifier.verify({"netcert": [first], "age_over_18": [first]}, req)["age_over_18"]


# --- assurance exactly at the minimum -----------------------------------------------------------------


@pytest.mark.parametrize("min_mode", MODES)
def test_assurance_exactly_the_minimum_is_enough(w: World, min_mode: str) -> None:
    amr = {
        "device": ["hwk"],
        "pin": ["hwk", "pin"],
        "face": ["hwk", "face"],
        "pin+face": ["hwk", "pin", "face"],
    }
    cred, req = setup(w, Query(purpose="age check", age_over=18, min_mode=min_mode))
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",), amr=amr[min_mode])
    answers = w.verifier.verify(vp, req)
    assert answers.assurance.mode == min_mode and answers["age_over_18"]


@pytest.mark.parametrize(("min_mode", "weaker"), [("pin", ["hwk"]), ("face", ["hwk", "pin"]),
                                                  ("pin+face", ["hwk", "face"])])  # fmt: skip
def test_assurance_one_below_the_minimum_is_refused(w: World, min_mode: str, weaker: list[str]) -> None:
    cred, req = setup(w, Query(purpose="age check", age_over=18, min_mode=min_mode))
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",), amr=weaker), req, "assurance")


# --- status index 0 -----------------------------------------------------------------------------------


def test_status_index_zero_is_a_real_entry(w: World) -> None:
    cred, req = setup(w, first_index=0)
    w.status.set(0, VALID)
    assert w.verifier.verify(hand_present(cred, HOLDER, req, claims=("age_over_18",)), req)["age_over_18"]
    w.status.set(0, INVALID)
    w.clock.now += 301  # past the list's cache time: the new list is fetched
    req2 = w.request(AGE)
    rejects(w, hand_present(cred, HOLDER, req2, claims=("age_over_18",)), req2, "status_revoked")


# --- the status list token's JSON types, through the verifier ------------------------------------------


@pytest.mark.parametrize("bits", [1.0, True])
def test_status_list_bits_of_the_wrong_json_type_is_unavailable(w: World, bits: Any) -> None:
    """``"bits": 1.0`` once let a TypeError out of Verifier.verify (``1.0 in {1, 2, 4, 8}`` is true)."""
    cred, req = setup(w)
    key = w.profile.keys.status_list

    def fetch(uri: str) -> str:
        now = w.clock()
        payload = {"sub": uri, "iat": now, "exp": now + 3600,
                   "status_list": {"bits": bits, "lst": StatusList(1, 1024).encode_lst()}}  # fmt: skip
        header = {"alg": key.signer.alg, "typ": "statuslist+jwt", "kid": key.kid}
        si = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(payload).encode())}"
        return f"{si}.{b64url_encode(key.signer.sign(si.encode()))}"

    w.fetch_status = fetch  # type: ignore[method-assign]
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "status_unavailable")


# --- size -------------------------------------------------------------------------------------------


def test_a_10_mb_vp_token_is_refused_before_any_work(w: World) -> None:
    cred, req = setup(w)
    p = hand_present(cred, HOLDER, req, claims=("age_over_18",))["netcert"][0]
    junk = "~".join(Disclosure.create("padding", f"{i:08d}" + "x" * 900).encoded for i in range(8_000))
    huge = p[: p.rindex("~") + 1] + junk + "~"
    t0 = time.process_time()
    rejects(w, {"netcert": [huge]}, req, "malformed")
    rejects(w, json.dumps({"netcert": [huge]}), req, "malformed")
    print(f"10 MB vp_token refused in {1e3 * (time.process_time() - t0):.3f} ms")


def test_the_policy_size_reaches_the_sd_jwt_layer(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",))
    size = len(vp["netcert"][0])
    tight = Verifier(w.trust, status=None, replay_cache=InMemoryReplayCache(w.clock), clock=w.clock,
                     policy=Policy(max_presentation_bytes=size))  # fmt: skip
    assert tight.verify(vp, req)["age_over_18"]
    tighter = Verifier(w.trust, status=None, replay_cache=InMemoryReplayCache(w.clock), clock=w.clock,
                       policy=Policy(max_presentation_bytes=size - 1))  # fmt: skip
    rejects(w, vp, w.request(AGE), "malformed", verifier=tighter)


# --- order of the steps ---------------------------------------------------------------------------------


def test_order_rp_scope_before_expiry(w: World) -> None:
    _, req = setup(w)
    w.clock.now = req.exp + 10_000
    out_of_scope = type(req).__new__(type(req))
    for name in req.__dataclass_fields__:
        object.__setattr__(out_of_scope, name, getattr(req, name))
    object.__setattr__(out_of_scope, "in_scope", False)
    rejects(w, {"netcert": ["garbage"]}, out_of_scope, "rp_scope")
    rejects(w, {"netcert": ["garbage"]}, req, "request")


def test_order_expiry_before_the_vp_token_is_read(w: World) -> None:
    _, req = setup(w)
    w.clock.now = req.exp + w.verifier.policy.max_presentation_age
    rejects(w, {"garbage": 1}, req, "request")
    w.clock.now -= 1  # the last second a response is taken
    rejects(w, {"garbage": 1}, req, "malformed")


def test_order_sd_jwt_before_status(w: World) -> None:
    """A revoked credential under a foreign KB-JWT is a key-binding failure: the status list is asked only
    for presentations whose every cryptographic check passed."""
    cred, req = setup(w)
    w.status.set(100, INVALID)
    without = present_sd_jwt(cred, disclose=[("age_over_18",)])
    foreign = without + kb_jwt(OTHER, without, aud=req.client_id, nonce=req.nonce, iat=req.iat)
    rejects(w, {"netcert": [foreign]}, req, "kb_signature")
    assert w.fetched_status == []
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "status_revoked")


def test_order_status_before_unrequested_disclosures(w: World) -> None:
    cred, req = setup(w)
    w.status.set(100, INVALID)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18", "name")), req, "status_revoked")


def test_order_unrequested_disclosures_before_subject_and_assurance(w: World) -> None:
    cred, req = setup(w, Query(purpose="sign in", want_subject=True, age_over=18, min_mode="face"))
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18", "name"), amr=["hwk"])
    rejects(w, vp, req, "disclosure_unrequested")  # anonymous (no subject) and device-only, too
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",), amr=["hwk"]), req, "subject")


def test_order_subject_before_assurance(w: World) -> None:
    rp_cred = mint_raw(w, [HOLDER], kind="rp", first_index=200)[0]
    req = w.request(Query(purpose="sign in", want_subject=True, min_mode="face"))
    rejects(w, hand_present(rp_cred, HOLDER, req, amr=["hwk"]), req, "assurance")
    anon, req2 = (
        mint_raw(w, [HOLDER], first_index=300)[0],
        w.request(Query(purpose="sign in", want_subject=True, min_mode="face")),
    )
    rejects(w, hand_present(anon, HOLDER, req2, amr=["hwk"]), req2, "subject")


def test_order_single_use_last(w: World) -> None:
    """A refused presentation does not use up its request: only a fully valid one consumes the nonce."""
    cred, req = setup(w)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18", "name")), req, "disclosure_unrequested")
    assert w.verifier.verify(hand_present(cred, HOLDER, req, claims=("age_over_18",)), req)["age_over_18"]
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "nonce_reused")


# --- the policy reaches every check (mutation testing) -------------------------------------------------


def test_the_policy_kb_age_reaches_the_sd_jwt_layer(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",), iat=req.iat - 200)
    strict = Verifier(w.trust, status=None, replay_cache=InMemoryReplayCache(w.clock), clock=w.clock,
                      policy=Policy(max_presentation_age=100))  # fmt: skip
    rejects(w, vp, req, "kb_iat", verifier=strict)
    assert w.verifier.verify(vp, req)["age_over_18"]  # the default (300 s) takes it


def test_the_policy_leeway_reaches_the_sd_jwt_layer(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",), iat=req.iat + 30)  # wallet clock ahead
    exact = Verifier(w.trust, status=None, replay_cache=InMemoryReplayCache(w.clock), clock=w.clock,
                     policy=Policy(leeway=0))  # fmt: skip
    rejects(w, vp, req, "kb_iat", verifier=exact)
    assert w.verifier.verify(vp, req)["age_over_18"]


def test_check_presentation_caps_the_size_itself(w: World) -> None:
    from netid.verifier.verify import check_presentation

    cred, req = setup(w)
    p = hand_present(cred, HOLDER, req, claims=("age_over_18",))["netcert"][0]
    args = {"trust": w.trust, "status": None, "nonce": req.nonce, "now": w.clock(), "leeway": 60}
    assert check_presentation(p, req, **args, max_bytes=len(p))[0]["age_over_18"]
    with pytest.raises(VerificationError) as exc:
        check_presentation(p, req, **args, max_bytes=len(p) - 1)
    assert exc.value.code == "malformed"


def test_counter_request_is_answerable_through_exp_plus_leeway() -> None:
    """The wallet answers just before the counter QR's exp; the desk takes it through exp + leeway."""
    from netid.verifier import CounterVerifier, build_counter_request
    from netid.wallet.in_person import answer_counter

    w = make_world()
    w.mint(2)
    req = build_counter_request(AGE, rp_key=w.rp_key, rp_certificate=w.rp_cert, counter_id="gate-9",
                                now=w.clock(), rng=w.rng, ttl=600)  # fmt: skip
    for late, ok in ((60, True), (61, False)):
        w.clock.now = req.exp - 1
        qr = answer_counter(req.to_qr_text(), w.wallet, now=w.clock(), consent=lambda p: True, amr="pin")
        w.clock.now = req.exp + late
        desk = CounterVerifier(w.trust, status=None, clock=w.clock, policy=Policy(in_person_window=100))
        if ok:
            assert desk.verify(qr, req)["age_over_18"]
        else:
            rejects(w, qr, req, "request", verifier=desk)  # type: ignore[arg-type]
