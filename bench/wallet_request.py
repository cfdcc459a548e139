"""What a hostile request costs the wallet: a signed 4 KB request with 40 claims, against a real one.

Issue 8 found the wallet's DCQL parse exponential in the number of claims: a request from any registered
RP (even one whose certificate allows only ``subject``) with n optional claims built all 2^n claim sets
before any check — 20 claims ≈ 1 s and 190 MiB, 30 → MemoryError. The wallet now checks the request's
bounded shape and the RP's scope on the claim names before parsing anything further, and never
enumerates combinations. This bench opens (``netid.oid4vp.open_request``: signature chain, lifetime,
scope, parse) three requests of about 4 KB with 40 claims each, signed by a registered RP, every one of
which the wallet refuses:

* the shape issue 8 sent: one credential query with 40 optional claims;
* 40 optional credential queries (the shape NetID itself uses, 40 times over);
* 40 claims in the base credential query;

and, for scale, the largest request NetID builds (every predicate; accepted). The floor is the two
signature verifications every request costs (the RP certificate's and the request's), on pre-loaded
keys. ``ratio`` is the request's cost / that floor. Times are process CPU time (one core), medians.

Run: ``.venv/bin/python bench/wallet_request.py [N]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from netid.credentials.jose import decode_jws_unverified, load_public_jwk, sign_jws
from netid.errors import VerificationError
from netid.oid4vp import open_request
from netid.testing import TestWorld
from netid.verifier import Query

_META = {"vct_values": ["urn:netid:netcert:1"]}
_CLAIMS = 40
_TARGET_BYTES = 4096


def _claim(i: int) -> dict[str, Any]:
    return {"path": [f"age_over_{i}"], "values": [True]}


def one_query_40_claims() -> dict[str, Any]:
    claims = [_claim(i) for i in range(1, _CLAIMS + 1)]
    return {"credentials": [{"id": "netcert", "format": "dc+sd-jwt", "meta": _META, "claims": claims}]}


def forty_queries() -> dict[str, Any]:
    creds = [
        {"id": f"age_over_{i}", "format": "dc+sd-jwt", "meta": _META, "claims": [_claim(i)]}
        for i in range(1, _CLAIMS + 1)
    ]
    sets = [{"options": [[c["id"]]], "required": False} for c in creds]
    creds.append({"id": "netcert", "format": "dc+sd-jwt", "meta": _META})
    return {"credentials": creds, "credential_sets": [*sets, {"options": [["netcert"]]}]}


def forty_base_claims() -> dict[str, Any]:
    claims = [{"path": [f"claim_{i}"]} for i in range(_CLAIMS)]
    return {"credentials": [{"id": "netcert", "format": "dc+sd-jwt", "meta": _META, "claims": claims}]}


def signed(w: TestWorld, dcql: dict[str, Any]) -> str:
    """The RP's own signed request (a registered RP, allowed only ``subject``) carrying ``dcql``, padded
    with an ignored parameter to about 4 KB."""
    base = w.request(Query(purpose="sign in", want_subject=True))
    header, claims, _, _ = decode_jws_unverified(base.request_object)
    claims["dcql_query"] = dcql
    token = sign_jws(claims, w.rp_key, typ=header["typ"], extra_headers={"jwt": header["jwt"]})
    pad = max(0, (_TARGET_BYTES - len(token)) * 3 // 4)
    claims["padding"] = "x" * pad
    return sign_jws(claims, w.rp_key, typ=header["typ"], extra_headers={"jwt": header["jwt"]})


def cpu_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return 1e3 * statistics.median(times)


def main(n: int = 200) -> None:
    w = TestWorld.create(scopes=("subject",), credentials=0)
    full_world = TestWorld.create(credentials=0)
    full = full_world.request(
        Query(purpose="sign in", age_over=18, doc_valid=True, name_equals="张三丰",
              id_number_equals=full_world.person.personal_number, region_in=["4403"], want_subject=True,
              want_netno=True)
    ).request_object  # fmt: skip

    def opener(token: str, world: TestWorld) -> Callable[[], str]:
        def run() -> str:
            try:
                open_request(token, trust=world.trust, now=world.clock())
            except VerificationError as exc:
                return f"refused: {exc.code}"
            return "accepted"

        return run

    header, _, signing_input, signature = decode_jws_unverified(full)
    cert_header, _, cert_input, cert_sig = decode_jws_unverified(header["jwt"])
    issuer_key = full_world.trust.key_for(cert_header, purpose="rp_certificate")
    rp_key = load_public_jwk(decode_jws_unverified(header["jwt"])[1]["cnf"]["jwk"])

    def floor() -> None:
        issuer_key.verify(cert_input, cert_sig)
        rp_key.verify(signing_input, signature)

    floor_ms = cpu_ms(floor, n)
    rows = [
        ("issue 8's shape: 1 credential query, 40 claims", signed(w, one_query_40_claims()), w),
        ("40 optional credential queries", signed(w, forty_queries()), w),
        ("40 claims in the base query", signed(w, forty_base_claims()), w),
        ("largest NetID request (7 predicates)", full, full_world),
    ]
    print(f"floor: two signature verifications (RP certificate + request): {floor_ms:.3f} ms")
    print(f"{'request':<50} {'bytes':>6} {'outcome':<18} {'ms':>8} {'ratio':>6}")
    for label, token, world in rows:
        run = opener(token, world)
        outcome = run()
        ms = cpu_ms(run, n)
        print(f"{label:<50} {len(token):>6} {outcome:<18} {ms:>8.3f} {ms / floor_ms:>6.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
