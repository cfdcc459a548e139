"""Property tests: mangled vp_tokens only ever raise VerificationError, and a True answer is always
justified by a disclosed, issuer-signed value equal to a requested one."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netid.credentials.sdjwt.codec import Disclosure, split_sd_jwt
from netid.errors import VerificationError
from netid.verifier import Answers, Query, Verifier
from netid.verifier.replay import InMemoryReplayCache
from tests.credentials._sdjwt_helpers import assert_deliberate
from tests.verifier.kit import PERSON, fixed_key, hand_present, make_world, mint_raw

WORLD = make_world()
HOLDER = fixed_key("ES256", "property-holder")
CRED = mint_raw(WORLD, [HOLDER])[0]
QUERY = Query(purpose="sign in", age_over=18, name_equals="李四", region_in=["4403"], doc_valid=True)
REQ = WORLD.request(QUERY)
CLAIMS = ("age_over_18", "age_over_60", "name", "region_city", "region_county", "doc_valid", "id_number")
VALID = hand_present(CRED, HOLDER, REQ, claims=("age_over_18", "region_city", "doc_valid"))["netcert"][0]


def fresh_verifier() -> Verifier:
    # a fresh replay cache per example: each example is its own "first" use
    return Verifier(
        WORLD.trust, status=None, replay_cache=InMemoryReplayCache(WORLD.clock), clock=WORLD.clock
    )


def justified(answers: Answers, presentation: str) -> None:
    disclosed = {d.name: d.value for d in map(Disclosure.parse, split_sd_jwt(presentation).disclosures)}
    for pred in REQ.predicates:
        if answers.predicates.get(pred.name):
            assert pred.values is not None and pred.claim in disclosed
            value = disclosed[pred.claim]
            assert any(type(value) is type(v) and value == v for v in pred.values)


@settings(max_examples=120)
@given(
    pos=st.integers(min_value=0, max_value=len(VALID) - 1),
    char=st.sampled_from("AQgw_-~.0x="),
    op=st.sampled_from(["replace", "insert", "delete"]),
)
def test_single_character_mutations(pos: int, char: str, op: str) -> None:
    if op == "replace":
        mutated = VALID[:pos] + char + VALID[pos + 1 :]
    elif op == "insert":
        mutated = VALID[:pos] + char + VALID[pos:]
    else:
        mutated = VALID[:pos] + VALID[pos + 1 :]
    try:
        answers = fresh_verifier().verify({"netcert": [mutated]}, REQ)
    except VerificationError as exc:
        assert_deliberate(exc)  # refused on purpose, not by a fallback around a crash
        return
    # only a mutation that leaves the presentation semantically identical may pass
    justified(answers, mutated)


@settings(max_examples=60)
@given(st.lists(st.integers(min_value=0, max_value=20), max_size=6), st.booleans())
def test_segment_shuffles_and_duplicates(order: list[int], keep_kb: bool) -> None:
    parts = VALID.split("~")
    body = parts[:-1]
    picked = [body[i % len(body)] for i in order] or body[:1]
    mutated = "~".join([*picked, parts[-1] if keep_kb else ""])
    try:
        answers = fresh_verifier().verify({"netcert": [mutated]}, REQ)
    except VerificationError as exc:
        assert_deliberate(exc)
        return
    justified(answers, mutated)


@settings(max_examples=60)
@given(st.sets(st.sampled_from(CLAIMS)))
def test_answers_follow_disclosed_values(claims: set[str]) -> None:
    vp = hand_present(CRED, HOLDER, REQ, claims=tuple(sorted(claims)))
    asked = {p.claim for p in REQ.predicates}
    try:
        answers = fresh_verifier().verify(vp, REQ)
    except VerificationError as exc:
        assert exc.code == "disclosure_unrequested" and not claims <= asked
        return
    assert claims <= asked
    assert answers["age_over_18"] is ("age_over_18" in claims)
    assert answers["name_equals"] is False  # the card says 张三丰, the RP asked 李四
    assert answers["region_in"] is ("region_city" in claims)
    assert answers["doc_valid"] is ("doc_valid" in claims)
    justified(answers, vp["netcert"][0])
    assert PERSON.full_name not in repr(answers)


@settings(max_examples=80)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=10,
    )
)
def test_arbitrary_json_vp_tokens(token: Any) -> None:
    try:
        fresh_verifier().verify(token, REQ)
    except VerificationError:
        return
    raise AssertionError("garbage verified")
