"""The privacy invariants (specs/protocol.md §8) as tests: what an RP receives, what two RPs could link."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from netid.credentials.jose import decode_jws_unverified
from netid.credentials.sdjwt.codec import Disclosure, split_sd_jwt
from netid.errors import VerificationError
from netid.testing.leaks import expand
from netid.verifier import PresentationRequest, Query, build_request
from tests.unlinkability import observables
from tests.verifier.kit import ISSUER, PERSON, World, fixed_key, make_world, personal_number, register_rp

DOB = PERSON.date_of_birth
FORBIDDEN_ALWAYS = [
    PERSON.personal_number,
    PERSON.personal_number[:17],  # the digits without the check character
    PERSON.personal_number[6:14],  # the birth date as embedded in the number
    DOB.isoformat(),
    DOB.strftime("%Y%m%d"),
    DOB.strftime("%Y/%m/%d"),
    DOB.strftime("%d.%m.%Y"),
    DOB.strftime("%d/%m/%Y"),
    f"{DOB.year}年{DOB.month}月{DOB.day}日",
    DOB.strftime("%Y年%m月%d日"),
    str(int(dt.datetime(DOB.year, DOB.month, DOB.day, tzinfo=dt.UTC).timestamp())),
]


def transcript(req: PresentationRequest, vp_token: Any, answers: Any) -> str:
    """Every byte the RP sends or receives, decoded as far as possible, plus its result objects."""
    parts = [
        req.to_uri(),
        req.to_uri("https://shop.example/r/1"),
        req.request_object,
        json.dumps(vp_token, ensure_ascii=False),
        repr(answers),
        str(answers),
        repr(req),
    ]
    return expand(parts)


def run(w: World, query: Query) -> tuple[str, Any]:
    req = w.request(query)
    vp = w.present(req)
    answers = w.verifier.verify(vp, req)
    return transcript(req, vp, answers), answers


@pytest.mark.parametrize(
    "query",
    [
        Query(purpose="age check", age_over=18),
        Query(purpose="age check", age_over=18, doc_valid=True, region_in=["440305"]),
        Query(purpose="sign in", name_equals="李四", age_over=16),  # wrong name: withheld
        Query(purpose="sign in", id_number_equals="110105194912310021"),  # wrong number: withheld
        Query(purpose="sign in", want_subject=True),
    ],
)
def test_rp_never_receives_personal_data_it_did_not_supply(query: Query) -> None:
    w = make_world()
    w.mint(1, kind="rp" if query.want_subject else "anonymous")
    text, _ = run(w, query)
    assert PERSON.full_name not in text
    for secret in FORBIDDEN_ALWAYS:
        assert secret not in text, secret
    if query.id_number_equals is None:
        assert '"id_number"' not in text


def test_rp_supplied_value_is_the_only_exception() -> None:
    w = make_world()
    w.mint(2)
    text, answers = run(w, Query(purpose="sign in", name_equals=PERSON.full_name))
    assert answers["name_equals"] is True
    assert PERSON.full_name in text  # the RP sent it itself and asked to compare
    for secret in FORBIDDEN_ALWAYS:
        assert secret not in text
    text, answers = run(w, Query(purpose="sign in", id_number_equals=PERSON.personal_number))
    assert answers["id_number_equals"] is True
    assert PERSON.full_name not in text and DOB.isoformat() not in text


def test_vp_token_ids_say_no_more_than_the_answers() -> None:
    """Issue 8 item 11: each comparison is its own optional credential query; the ids the wallet answers
    are exactly the comparisons proven true, all carried by one presentation — the RP learns nothing the
    answers do not already say, and a non-matching value is neither disclosed nor named."""
    w = make_world()
    w.mint(1)
    req = w.request(
        Query(purpose="sign in", age_over=60, name_equals="李四", region_in=["44"], doc_valid=True)
    )
    vp = w.present(req)
    answers = w.verifier.verify(vp, req)
    assert set(vp) - {"netcert"} == {name for name, proven in answers.predicates.items() if proven}
    assert set(vp) == {"netcert", "region_in", "doc_valid"}
    assert len({p for presentations in vp.values() for p in presentations}) == 1
    disclosed = {Disclosure.parse(d).name for d in split_sd_jwt(vp["netcert"][0]).disclosures}
    assert disclosed == {"region_province", "doc_valid"}


def test_answers_carry_no_values() -> None:
    w = make_world()
    w.mint(1, kind="rp", include_netno=True)
    _, answers = run(w, Query(purpose="sign in", name_equals=PERSON.full_name, region_in=["44"],
                              want_subject=True, want_netno=True))  # fmt: skip
    flat = repr(answers) + str(answers.__dict__ if hasattr(answers, "__dict__") else "")
    for v in (PERSON.full_name, "44", "4403", PERSON.personal_number):
        assert v not in repr(dict(answers.predicates))
    assert PERSON.full_name not in flat and "ABCDEFGHJR" not in repr(answers)
    assert set(answers.predicates.values()) <= {True, False}


def test_errors_never_echo_values() -> None:
    w = make_world()
    w.mint(1)
    req = w.request(Query(purpose="age check", age_over=18))
    vp = w.present(req)
    w.verifier.verify(vp, req)
    with pytest.raises(VerificationError) as exc:
        w.verifier.verify(vp, req)
    assert PERSON.full_name not in str(exc.value) and req.nonce not in str(exc.value)


def _second_rp(w: World, rp_id: str) -> tuple[Any, str]:
    key = fixed_key("ES256", f"rp-{rp_id}")
    cert = register_rp(w, rp_id, key, scopes=("age_over", "subject"), response_uris=(f"https://{rp_id}/cb",))
    return key, cert


@pytest.mark.parametrize("kind", ["anonymous", "rp"])
def test_two_rps_cannot_link_one_batch(kind: str) -> None:
    w = make_world()
    if kind == "rp":
        w.mint(1, kind="rp", sector="a.example")
        w.mint(1, kind="rp", sector="b.example", first_index=500)
    else:
        w.mint(2)
    query = Query(purpose="age check", age_over=18, want_subject=kind == "rp")
    seen = []
    for rp_id in ("a.example", "b.example"):
        key, cert = _second_rp(w, rp_id)
        req = build_request(query, rp_key=key, rp_certificate=cert, response_uri=f"https://{rp_id}/cb",
                            now=w.clock(), rng=w.rng)  # fmt: skip
        vp = w.present(req)
        answers = w.verifier.verify(vp, req)
        seen.append((observables(vp["netcert"][0]), answers))
        w.clock.now += 7  # the two RPs are visited at different times (they know when anyway)
    (leaves_a, segs_a), ans_a = seen[0]
    (leaves_b, segs_b), ans_b = seen[1]
    assert not segs_a & segs_b  # no shared signature, payload, disclosure or KB segment
    shared = leaves_a & leaves_b
    # what is shared is common to every holder minted that day: issuer, type, coarse times, claim names,
    # the status list URI, assurance class, and the disclosed answer itself
    allowed = {
        json.dumps(ISSUER), json.dumps("urn:netid:netcert:1"), json.dumps("sha-256"), json.dumps(True),
        json.dumps("https://issuer.netid.test/status/1"), json.dumps("aa"),
        json.dumps("EC"), json.dumps("P-256"), json.dumps("swk"), json.dumps("pin"),
    }  # fmt: skip
    coarse = {x for x in shared if x.isdigit() and int(x) % 86_400 == 0}
    assert {x for x in shared if not x.startswith("key:")} - allowed - coarse == set()
    if kind == "rp":
        assert ans_a.subject and ans_b.subject and ans_a.subject != ans_b.subject
    else:
        assert ans_a.subject is None and ans_b.subject is None


def _status_index(serialized: str) -> int:
    _h, payload, _, _ = decode_jws_unverified(split_sd_jwt(serialized).issuer_jwt)
    idx = payload["status"]["status_list"]["idx"]
    assert isinstance(idx, int)
    return idx


def test_batch_status_indices_are_random_not_contiguous() -> None:
    """Review A3: idx 0 and idx 1 with one day-aligned iat would link a batch across RPs."""
    w = make_world()
    batch = [_status_index(c) for c in w.mint(8)]
    assert len(set(batch)) == 8
    assert batch != sorted(batch)  # not handed out in order
    assert max(batch) - min(batch) > 1024  # not all within a small window
    assert all(abs(a - b) > 1 for i, a in enumerate(batch) for b in batch[i + 1 :])  # no neighbours
    assert len(w.status) >= 2**16  # drawn from a large list (protocol.md §3)


def test_no_always_visible_claim_is_person_specific() -> None:
    """Two different people minted the same day: the always-visible claims differ only in the
    per-credential random values (holder key, status index). Enrollment paths are not visible."""
    import dataclasses

    from netid.credentials.sdjwt.present import disclosable_claims

    w = make_world()
    other = dataclasses.replace(
        PERSON,
        full_name="李四",
        personal_number=personal_number("11010519851124002"),
        date_of_birth=dt.date(1985, 11, 24),
        document_expiry=dt.date(2031, 1, 1),
        enrollment_factors=("nfc_chip",),  # another enrollment path than PERSON's
    )
    visible = []
    for attrs in (PERSON, other):
        cred = w.mint(1, attrs=attrs)[0]
        _h, payload, _, _ = decode_jws_unverified(split_sd_jwt(cred).issuer_jwt)
        assert {c.path[0] for c in disclosable_claims(cred)} >= {"name", "id_number", "age_over_18"}
        for per_credential in ("cnf", "status", "_sd"):
            payload.pop(per_credential)
        visible.append(payload)
    assert visible[0] == visible[1]
    assert visible[0]["assurance"] == {"chip_auth": "aa"}


def test_coarse_times_only() -> None:
    w = make_world()
    w.mint(1)
    req = w.request(Query(purpose="age check", age_over=18))
    vp = w.present(req)
    _, payload, _, _ = decode_jws_unverified(vp["netcert"][0].split("~")[0])
    assert payload["iat"] % 86_400 == 0 and payload["exp"] % 86_400 == 0
    # and they do not depend on the birth date: see tests/credentials/test_netcert.py
    # (test_times_are_coarse_and_independent_of_birth_date, test_age_true_only_if_true_for_whole_window)
