"""Netcert minting: claim layout, coarse times, the age/validity window rule, batch distinctness."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from netid.credentials.jose import decode_jws_unverified, public_jwk
from netid.credentials.netcert import NETCERT_VCT
from netid.credentials.sdjwt.codec import Disclosure, split_sd_jwt
from netid.errors import UsageError
from netid.issuance import (
    IdentityAttributes,
    IssuerKey,
    IssuerKeys,
    IssuerProfile,
    NetcertPolicy,
    RpScope,
    mint_netcert_batch,
)
from netid.personal_number import age_on, is_valid_personal_number
from tests.verifier.kit import ISSUER, NOW, PERSON, STATUS_URI, DetRng, fixed_key, personal_number

DAY = 86_400
ISSUER_KEY = fixed_key("EdDSA", "netcert-issuer")
KEYS = IssuerKeys(
    netcert=IssuerKey("k1", "netcert", ISSUER_KEY),
    rp_certificate=IssuerKey("k2", "rp_certificate", fixed_key("EdDSA", "netcert-issuer-rp")),
    status_list=IssuerKey("k3", "status_list", fixed_key("EdDSA", "netcert-issuer-status")),
)
HOLDERS = [fixed_key("ES256", f"netcert-holder-{i}") for i in range(4)]
NETNO = "ABCDEFGHJR"


def mint(
    attrs: IdentityAttributes = PERSON, *, count: int = 2, now: int = NOW, **kw: Any
) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Disclosure]]]:
    """Mint with the test issuer; ``sector``/``netno``/``pairwise_key``/``include_netno`` make the batch
    RP-scoped, ``status_indices`` name the entries in one list, ``policy`` the netcert policy."""
    policy = kw.pop("policy", NetcertPolicy())
    scope = None
    if "sector" in kw:
        scope = RpScope(
            kw.pop("sector"),
            kw.pop("netno"),
            kw.pop("pairwise_key"),
            include_netno=kw.pop("include_netno", False),
        )
    indices = kw.pop("status_indices", list(range(7, 7 + count)))
    args: dict[str, Any] = {
        "profile": IssuerProfile(ISSUER, KEYS, netcert_policy=policy),
        "holder_jwks": [public_jwk(k) for k in HOLDERS[:count]],
        "status": [(STATUS_URI, i) for i in indices],
        "now": now,
        "rng": DetRng("netcert"),
        "scope": scope,
    }
    args.update(kw)
    out = []
    for s in mint_netcert_batch(attrs, **args):
        parts = split_sd_jwt(s)
        header, payload, _, _ = decode_jws_unverified(parts.issuer_jwt)
        discl = {d.name: d for d in map(Disclosure.parse, parts.disclosures)}
        out.append((header, payload, discl))
    return out


def test_personal_number_check_digit() -> None:
    assert is_valid_personal_number(PERSON.personal_number)
    assert is_valid_personal_number("11010519491231002X")  # GB 11643 example
    bad = PERSON.personal_number[:-1] + ("0" if PERSON.personal_number[-1] != "0" else "1")
    assert not is_valid_personal_number(bad)
    with pytest.raises(UsageError) as exc:
        dataclasses.replace(PERSON, personal_number=bad)
    assert bad not in str(exc.value)


def test_attributes_repr_hides_personal_values() -> None:
    text = repr(PERSON)
    for secret in (PERSON.full_name, PERSON.personal_number, "1990"):
        assert secret not in text
    assert (PERSON.region_province, PERSON.region_city, PERSON.region_county) == ("44", "4403", "440305")


def test_anonymous_claim_layout() -> None:
    header, payload, discl = mint()[0]
    assert header == {"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": "k1"}
    assert payload["vct"] == NETCERT_VCT and payload["iss"] == ISSUER
    assert payload["status"] == {"status_list": {"idx": 7, "uri": STATUS_URI}}
    assert payload["cnf"] == {"jwk": public_jwk(HOLDERS[0])}
    # coarse: the chip class only; enrollment factors would partition holders (protocol.md §3)
    assert payload["assurance"] == {"chip_auth": "aa"}
    assert "sub" not in payload and "sector" not in payload
    assert set(discl) == {
        "age_over_14", "age_over_16", "age_over_18", "age_over_60", "doc_valid",
        "name", "id_number", "region_province", "region_city", "region_county",
    }  # fmt: skip
    assert discl["age_over_18"].value is True and discl["age_over_60"].value is False
    assert discl["region_city"].value == "4403" and discl["id_number"].value == PERSON.personal_number
    # nothing personal in the always-visible part
    visible = str(payload)
    for secret in (PERSON.full_name, PERSON.personal_number, "4403"):
        assert secret not in visible


def test_rp_scoped_carries_pairwise_subject_and_optional_netno() -> None:
    common = {"sector": "shop.example", "netno": NETNO, "pairwise_key": b"k" * 32}
    _, payload, discl = mint(**common)[0]
    assert payload["sector"] == "shop.example" and len(payload["sub"]) == 43
    assert "netno" not in discl
    _, payload2, discl2 = mint(**common, include_netno=True)[0]
    assert discl2["netno"].value == NETNO and payload2["sub"] == payload["sub"]
    _, other, _ = mint(**{**common, "sector": "bank.example"})[0]
    assert other["sub"] != payload["sub"]


def test_times_are_coarse_and_independent_of_birth_date() -> None:
    other = dataclasses.replace(
        PERSON, date_of_birth=dt.date(2001, 12, 31), personal_number=personal_number("11010520011231001")
    )
    for now in (NOW, NOW + 1, NOW + 40_000):
        a = mint(now=now)[0][1]
        b = mint(other, now=now)[0][1]
        assert a["iat"] % DAY == 0 and a["exp"] % DAY == 0
        assert (a["iat"], a["exp"]) == (b["iat"], b["exp"])
        assert a["exp"] - a["iat"] == 30 * DAY


def _age_flag(dob: dt.date, now: int, threshold: int = 18) -> bool:
    attrs = dataclasses.replace(PERSON, date_of_birth=dob)
    value = mint(attrs, now=now, count=1)[0][2][f"age_over_{threshold}"].value
    assert isinstance(value, bool)
    return value


def test_age_true_only_if_true_for_whole_window() -> None:
    now = int(dt.datetime(2026, 6, 15, 10, tzinfo=dt.UTC).timestamp())
    # 18th birthday well before the window: true
    assert _age_flag(dt.date(2008, 6, 1), now)
    # 18th birthday on the first day of the window: not true at the earliest civil date anywhere → false
    assert not _age_flag(dt.date(2008, 6, 15), now)
    assert _age_flag(dt.date(2008, 6, 14), now)
    # 18th birthday inside the window: false, and exp is NOT moved to the birthday
    header_exp = mint(dataclasses.replace(PERSON, date_of_birth=dt.date(2008, 6, 20)), now=now)[0][1]["exp"]
    assert header_exp == mint(now=now)[0][1]["exp"]
    assert not _age_flag(dt.date(2008, 6, 20), now)


def test_leap_day_birthday() -> None:
    dob = dt.date(2008, 2, 29)
    assert age_on(dob, dt.date(2026, 2, 28)) == 17
    assert age_on(dob, dt.date(2026, 3, 1)) == 18
    assert age_on(dob, dt.date(2028, 2, 29)) == 20


def test_doc_valid_covers_whole_window() -> None:
    now = int(dt.datetime(2026, 6, 15, tzinfo=dt.UTC).timestamp())
    inside = dataclasses.replace(PERSON, document_expiry=dt.date(2026, 7, 1))
    assert mint(inside, now=now)[0][2]["doc_valid"].value is False
    after = dataclasses.replace(PERSON, document_expiry=dt.date(2026, 8, 1))
    assert mint(after, now=now)[0][2]["doc_valid"].value is True


def test_batch_members_are_distinct() -> None:
    batch = mint(count=4)
    salts = [d.salt for _, _, discl in batch for d in discl.values()]
    assert len(salts) == len(set(salts))
    assert len({p["status"]["status_list"]["idx"] for _, p, _ in batch}) == 4
    assert len({str(p["cnf"]) for _, p, _ in batch}) == 4
    assert len({str(sorted(p["_sd"])) for _, p, _ in batch}) == 4


@pytest.mark.parametrize(
    "kw",
    [
        {"holder_jwks": [public_jwk(HOLDERS[0])] * 2},  # shared device key would link presentations
        {"status_indices": [3, 3]},
        {"status_indices": [1]},
        {"status_indices": [-1, 2]},
        {"count": 0, "holder_jwks": [], "status_indices": []},
        {"now": NOW + 0.5},  # a float clock would sign float times
        {"sector": "", "netno": NETNO, "pairwise_key": b"k" * 32},  # rp without a sector
        {"sector": "s", "netno": NETNO, "pairwise_key": b"short"},  # a guessable pairwise key
        {"sector": "s", "netno": "ABCDEFGHJK", "pairwise_key": b"k" * 32},  # bad check char
        {"holder_jwks": [public_jwk(HOLDERS[0]) | {"d": "x"}, public_jwk(HOLDERS[1])]},
    ],
)
def test_mint_refuses_misuse(kw: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        mint(**kw)


def test_policy_validation() -> None:
    with pytest.raises(UsageError):
        NetcertPolicy(granularity=7)
    with pytest.raises(UsageError):
        NetcertPolicy(age_thresholds=(18, 18))
    with pytest.raises(UsageError):
        NetcertPolicy(validity_days=0)
    assert NetcertPolicy(granularity=3600).window(NOW + 10)[0] % 3600 == 0
