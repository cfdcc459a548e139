"""Mint → request → wallet presents → RP verifies, for every predicate, both kinds, both issuer algs."""

from __future__ import annotations

import pytest

from netid.verifier import Query
from tests.verifier.kit import PERSON, make_world

ALGS = ["EdDSA", "ES256"]


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Query(purpose="age check"), {}),
        (Query(purpose="age check", age_over=18), {"age_over_18": True}),
        (Query(purpose="age check", age_over=14), {"age_over_14": True}),
        (Query(purpose="age check", age_over=60), {"age_over_60": False}),  # false in the credential
        (Query(purpose="age check", doc_valid=True), {"doc_valid": True}),
        (Query(purpose="sign in", name_equals="张三丰"), {"name_equals": True}),
        (Query(purpose="sign in", name_equals="李四"), {"name_equals": False}),
        (Query(purpose="sign in", id_number_equals=PERSON.personal_number), {"id_number_equals": True}),
        (
            Query(purpose="sign in", id_number_equals=PERSON.personal_number[:-1] + "0"),
            {"id_number_equals": False},
        ),
        (Query(purpose="sign in", region_in=["44", "11"]), {"region_in": True}),
        (Query(purpose="sign in", region_in=["4403"]), {"region_in": True}),
        (Query(purpose="sign in", region_in=["440306"]), {"region_in": False}),
        (
            Query(purpose="sign in", age_over=16, name_equals="李四", region_in=["44"], doc_valid=True),
            {"age_over_16": True, "name_equals": False, "region_in": True, "doc_valid": True},
        ),
    ],
)
def test_anonymous_roundtrip(alg: str, query: Query, expected: dict[str, bool]) -> None:
    w = make_world(alg)
    w.mint(1)
    req = w.request(query)
    answers = w.verifier.verify(w.present(req), req)
    assert dict(answers.predicates) == expected
    assert answers.subject is None and answers.credential_kind == "anonymous" and answers.netno is None
    assert answers.assurance.chip_auth == "aa" and answers.assurance.mode == "pin"
    assert answers.assurance.level == "substantial"


@pytest.mark.parametrize("alg", ALGS)
def test_rp_scoped_roundtrip_with_subject_and_netno(alg: str) -> None:
    w = make_world(alg)
    w.mint(1, kind="rp", include_netno=True)
    w.mint(1)  # an anonymous one must not be picked for a subject request
    req = w.request(
        Query(purpose="sign in", want_subject=True, want_netno=True, age_over=18, min_mode="face")
    )
    answers = w.verifier.verify(w.present(req, amr="pin+face"), req)
    assert answers.credential_kind == "rp" and answers.subject is not None and len(answers.subject) == 43
    assert answers.netno == "ABCDEFGHJR"
    assert answers["age_over_18"] is True
    assert answers.assurance.mode == "pin+face" and answers.assurance.level == "high"
    # the subject is stable for this RP across credentials of the batch
    w.mint(1, kind="rp", first_index=50)
    req2 = w.request(Query(purpose="sign in", want_subject=True))
    assert w.verifier.verify(w.present(req2), req2).subject == answers.subject
    # the anonymous one is still there, and serves an anonymous request
    req3 = w.request(Query(purpose="age check", age_over=18))
    assert w.verifier.verify(w.present(req3), req3).credential_kind == "anonymous"


@pytest.mark.parametrize("holder_alg", ["ES256", "EdDSA"])
def test_holder_key_algorithms(holder_alg: str) -> None:
    w = make_world()
    w.mint(1, holder_alg=holder_alg)
    req = w.request(Query(purpose="age check", age_over=18))
    assert w.verifier.verify(w.present(req, amr="device"), req).assurance.mode == "device"


def test_vp_token_as_posted_form_text() -> None:
    w = make_world()
    w.mint(1)
    req = w.request(Query(purpose="age check", age_over=18))
    resp = w.wallet.present(req.to_uri(), now=w.clock(), consent=lambda p: True, amr="pin")
    form = resp.form()
    assert resp.response_uri == req.response_uri and form["state"] == req.state
    assert w.verifier.verify(form["vp_token"], req).all()


def test_status_list_fetched_once_and_cached() -> None:
    w = make_world()
    w.mint(3)
    for _ in range(3):
        req = w.request(Query(purpose="age check", age_over=18))
        assert w.verifier.verify(w.present(req), req)["age_over_18"]
    assert len(w.fetched_status) == 1
    w.clock.now += 301  # past the cache TTL: re-fetched
    w.mint(1, first_index=10)
    req = w.request(Query(purpose="age check", age_over=18))
    w.verifier.verify(w.present(req), req)
    assert len(w.fetched_status) == 2
