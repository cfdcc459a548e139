"""The worked examples in specs/protocol.md are generated here, from fixed TEST keys and seeds.

Run ``NETID_REGEN_SPEC_EXAMPLES=1 pytest tests/verifier/test_spec_examples.py`` to rewrite
``specs/examples/*.json`` after an intended protocol change; otherwise the test fails if the code and the
published examples drift apart. Ed25519 everywhere, because its signatures are deterministic (ECDSA's are
not), so the examples are byte-for-byte reproducible.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from netid.credentials.jose import decode_jws_unverified, public_jwk
from netid.credentials.netno import format_netno, generate_netno, pairwise_subject
from netid.credentials.sdjwt.codec import Disclosure, split_sd_jwt
from netid.credentials.status_list import StatusList
from netid.issuance import (
    IssuerKey,
    IssuerKeys,
    IssuerProfile,
    RpRegistration,
    RpScope,
    issue_rp_certificate,
    mint_netcert_batch,
    status_list_token,
)
from netid.verifier import (
    CachedStatusLists,
    CounterVerifier,
    InMemoryReplayCache,
    IssuerTrust,
    Query,
    Verifier,
    build_counter_request,
    build_request,
)
from netid.wallet import OFFLINE, SoftwareKeyStore, Wallet
from netid.wallet.in_person import answer_counter
from tests.verifier.kit import ISSUER, NOW, PERSON, RESPONSE_URI, STATUS_URI, DetRng, fixed_key

SPECS = Path(__file__).resolve().parents[2] / "specs"
EXAMPLES = SPECS / "examples"
PROTOCOL = SPECS / "protocol.md"
#: ``<!-- example: file.json#a.b -->`` followed by a json code block holding that (sub)value
_BLOCK = re.compile(r"(<!-- example: ([a-z_]+)\.json(?:#([a-z_.]+))? -->\n```json\n)(.*?)(```)", re.S)
PAIRWISE_KEY = b"TEST ONLY pairwise key, never deploy"


def _jws(token: str) -> dict[str, Any]:
    header, payload, _, _ = decode_jws_unverified(token)
    return {"header": header, "payload": payload}


def _disclosures(serialized: str) -> list[list[Any]]:
    out = []
    for d in map(Disclosure.parse, split_sd_jwt(serialized).disclosures):
        out.append([d.salt, d.name, d.value, d.digest] if d.name else [d.salt, d.value, d.digest])
    return out


def generate_examples() -> dict[str, Any]:
    """Every example of the spec, as JSON-ready objects (deterministic)."""
    rng = DetRng("spec-examples")
    clock = [NOW]
    profile = IssuerProfile(
        ISSUER,
        IssuerKeys(
            netcert=IssuerKey("TEST-netcert-2026-1", "netcert", fixed_key("EdDSA", "spec-issuer")),
            rp_certificate=IssuerKey(
                "TEST-rp-2026-1", "rp_certificate", fixed_key("EdDSA", "spec-issuer-rp")
            ),
            status_list=IssuerKey(
                "TEST-status-2026-1", "status_list", fixed_key("EdDSA", "spec-issuer-status")
            ),
        ),
    )
    jwks = profile.keys.jwks()
    trust = IssuerTrust(jwks, issuer=ISSUER)
    rp_key = fixed_key("EdDSA", "spec-rp")
    holder_keys = [fixed_key("EdDSA", f"spec-holder-{i}") for i in range(2)]

    netno = generate_netno(rng)
    sector = "shop.example"
    ex: dict[str, Any] = {
        "netno": {
            "netno": netno,
            "display": format_netno(netno),
            "sector": sector,
            "pairwise_key_hex": PAIRWISE_KEY.hex(),
            "sub": pairwise_subject(netno, sector, PAIRWISE_KEY),
        },
        "jwks": jwks,
    }

    keystore = SoftwareKeyStore()
    for k in holder_keys:
        keystore.import_key(k)
    wallet = Wallet(keystore, trust, rp_status=OFFLINE)
    creds = mint_netcert_batch(
        PERSON, profile=profile, holder_jwks=[public_jwk(k) for k in holder_keys],
        status=[(STATUS_URI, 41), (STATUS_URI, 977)], now=NOW - 3600, rng=rng,
        scope=RpScope(sector, netno, PAIRWISE_KEY),
    )  # fmt: skip
    wallet.add_credentials(creds)
    ex["netcert"] = {"serialized": creds[0], "issuer_jwt": _jws(creds[0].split("~")[0]),
                     "disclosures": _disclosures(creds[0])}  # fmt: skip

    registration = RpRegistration(
        rp_id="shop.example", name="示例商城 Example Shop", sector=sector,
        allowed_predicates=["age_over", "name_equals", "region_in", "subject"],
        purposes=["age check", "sign in"], response_uris=[RESPONSE_URI], request_jwk=public_jwk(rp_key),
    )  # fmt: skip
    rp_cert = issue_rp_certificate(profile, registration, now=NOW - 86_400)
    ex["rp_certificate"] = {"jwt": rp_cert, "decoded": _jws(rp_cert)}

    query = Query(purpose="sign in", age_over=18, name_equals=PERSON.full_name, region_in=["44"],
                  want_subject=True)  # fmt: skip
    req = build_request(query, rp_key=rp_key, rp_certificate=rp_cert, response_uri=RESPONSE_URI,
                        now=NOW, rng=rng)  # fmt: skip
    decoded = _jws(req.request_object)
    decoded["header"]["jwt"] = "<the RP certificate above>"
    ex["request"] = {
        "query": "Query(purpose='sign in', age_over=18, name_equals='张三丰', region_in=['44'], "
        "want_subject=True)",
        "request_object": req.request_object,
        "decoded": decoded,
        "uri_by_reference": req.to_uri("https://shop.example/netid/requests/1"),
    }

    resp = wallet.present(req.to_uri(), now=NOW + 5, consent=lambda p: True, amr="pin")
    presentation = resp.vp_token["netcert"][0]
    ex["response"] = {
        "form": resp.form(),
        "disclosed": _disclosures(presentation),
        "kb_jwt": _jws(presentation.rsplit("~", 1)[1]),
    }

    status = StatusList(2, [0] * 1024)
    status.set(977, 1)
    status_token = status_list_token(status, profile.keys.status_list, sub=STATUS_URI, iat=NOW - 600, ttl=300)
    ex["status_list"] = {"token": status_token, "decoded": _jws(status_token)}

    clock[0] = NOW + 6
    verifier = Verifier(
        trust,
        status=CachedStatusLists(lambda uri: status_token, trust, clock=lambda: clock[0]),
        replay_cache=InMemoryReplayCache(lambda: clock[0]),
        clock=lambda: clock[0],
    )
    answers = verifier.verify(resp.form()["vp_token"], req)
    ex["answers"] = {
        "predicates": dict(answers.predicates),
        "subject": answers.subject,
        "credential_kind": answers.credential_kind,
        "assurance": {
            "chip_auth": answers.assurance.chip_auth,
            "mode": answers.assurance.mode,
            "level": answers.assurance.level,
        },
    }
    ex["in_person"] = _in_person_example(profile, trust, rp_key=rp_key, rp_cert=rp_cert, keystore=keystore)
    return ex


def _in_person_example(
    profile: IssuerProfile, trust: IssuerTrust, *, rp_key: Any, rp_cert: str, keystore: SoftwareKeyStore
) -> dict[str, Any]:
    """The hotel desk of §9: an anonymous netcert, a counter QR asking age and the booked name."""
    rng = DetRng("spec-examples-in-person")  # its own seed: the examples above do not move
    holder = fixed_key("EdDSA", "spec-holder-counter")
    keystore.import_key(holder)
    wallet = Wallet(keystore, trust, rp_status=OFFLINE)
    wallet.add_credentials(
        mint_netcert_batch(
            PERSON, profile=profile, holder_jwks=[public_jwk(holder)], status=[(STATUS_URI, 42)],
            now=NOW - 3600, rng=rng,
        )
    )  # fmt: skip
    query = Query(purpose="sign in", age_over=18, name_equals=PERSON.full_name)
    shown = build_counter_request(query, rp_key=rp_key, rp_certificate=rp_cert, counter_id="front-desk-1",
                                  now=NOW, rng=rng)  # fmt: skip
    dynamic_qr = answer_counter(shown.to_qr_text(), wallet, now=NOW + 40, consent=lambda p: True, amr="face")
    clock = [NOW + 45]  # the counter's clock is 5 s ahead of the phone's: inside the 30 s window
    counter = CounterVerifier(trust, status=None, clock=lambda: clock[0])
    answers = counter.verify(dynamic_qr, shown)
    decoded = _jws(shown.request_object)
    decoded["header"]["jwt"] = "<the RP certificate of §4>"
    return {
        "query": "Query(purpose='sign in', age_over=18, name_equals='张三丰')",
        "counter_qr": shown.to_qr_text(),
        "counter_request": decoded,
        "nonce": shown.nonce,
        "dynamic_qr": dynamic_qr,
        "dynamic_qr_bytes": len(dynamic_qr.encode("ascii")),
        "kb_jwt": _jws(dynamic_qr.rsplit("~", 1)[1]),
        "answers": {
            "predicates": dict(answers.predicates),
            "credential_kind": answers.credential_kind,
            "assurance": {"chip_auth": answers.assurance.chip_auth, "mode": answers.assurance.mode,
                          "level": answers.assurance.level},
        },
    }  # fmt: skip


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _embedded(examples: dict[str, Any], text: str) -> str:
    """``text`` with every example block of protocol.md filled from ``examples``."""

    def fill(m: re.Match[str]) -> str:
        value: Any = examples[m.group(2)]
        for key in (m.group(3) or "").split("."):
            value = value[key] if key else value
        return m.group(1) + _dump(value) + m.group(5)

    return _BLOCK.sub(fill, text)


def test_spec_examples_are_current() -> None:
    examples = generate_examples()
    assert generate_examples() == examples  # deterministic
    if os.environ.get("NETID_REGEN_SPEC_EXAMPLES"):
        EXAMPLES.mkdir(parents=True, exist_ok=True)
        for name, value in examples.items():
            (EXAMPLES / f"{name}.json").write_text(_dump(value), encoding="utf-8")
        PROTOCOL.write_text(_embedded(examples, PROTOCOL.read_text("utf-8")), encoding="utf-8")
    text = PROTOCOL.read_text("utf-8")
    assert len(_BLOCK.findall(text)) >= 5
    assert _embedded(examples, text) == text, "specs/protocol.md example blocks are stale"
    for name, value in examples.items():
        path = EXAMPLES / f"{name}.json"
        assert path.exists(), f"{path} missing: run with NETID_REGEN_SPEC_EXAMPLES=1"
        assert path.read_text(encoding="utf-8") == _dump(value), f"{path} is stale"
    assert examples["answers"]["predicates"] == {"age_over_18": True, "name_equals": True, "region_in": True}
    assert examples["in_person"]["answers"]["predicates"] == {"age_over_18": True, "name_equals": True}
