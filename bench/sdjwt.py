"""SD-JWT throughput: issue / present / verify for a netcert-like credential, next to raw signatures.

A netcert-like claim set has 12 disclosures (age thresholds, doc validity, name, personal number, three
region levels, …); a presentation discloses 2 of them and is key-bound. Raw sign/verify figures are
measured in the same run on the same signing-input sizes, so the ratios compare like with like.

    .venv/bin/python bench/sdjwt.py [--seconds 1.0]

``verify / raw`` is presentations verified per second divided by what the two signature checks alone
(issuer JWT + KB-JWT, with the same algorithms) would allow: 1 / (1/raw_issuer + 1/raw_holder). It is
the share of verification time spent in the signature checks themselves; the target is >= 0.65.

``issue`` signs with the private key (a signer built per call, as ``raw issuer sign`` does); ``issue,
batches of 30`` is :func:`~netid.credentials.sdjwt.issue.issue_sd_jwt_batch`, how an issuer mints a netcert
batch (fresh salts and a signature per credential), per credential against raw signatures by the same
``LocalSigner`` kept across calls, as an issuer keeps it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from netid.credentials.jose import (
    LocalSigner,
    decode_jws_unverified,
    generate_signing_key,
    public_jwk,
    sign_jws,
    verifying_key,
)
from netid.credentials.sdjwt.codec import split_sd_jwt
from netid.credentials.sdjwt.issue import SD, issue_sd_jwt, issue_sd_jwt_batch
from netid.credentials.sdjwt.present import present_sd_jwt
from netid.credentials.sdjwt.verify import verify_sd_jwt
from netid.issuance.status_lists import status_claim

NOW = 1_800_000_000
AUD = "x509_san_dns:shop.example"
NONCE = "n-0S6_WzA2Mj"
BATCH = 30  # credentials per issue_sd_jwt_batch call, as in a netcert batch


def netcert_claims(holder_jwk: dict[str, str]) -> dict[str, Any]:
    return {
        "iss": "https://issuer.netid.example",
        "vct": "urn:netid:netcert:1",
        "iat": NOW - 86400,
        "exp": NOW + 30 * 86400,
        "cnf": {"jwk": holder_jwk},
        "status": status_claim("https://issuer.netid.example/status/7", 123456),
        "chip_auth": "aa",
        "age_over_14": SD(True),
        "age_over_16": SD(True),
        "age_over_18": SD(True),
        "age_over_60": SD(False),
        "doc_valid": SD(True),
        "name": SD("张三"),
        "personal_number": SD("11010519491231002X"),
        "region_province": SD("44"),
        "region_city": SD("4403"),
        "region_county": SD("440305"),
        "netno": SD("B2JK1G6JQU"),
        "sub": SD("mZ0a4bq0bIqA1o8f8jHkq2y7m1n9yV3y1xQy2w3e4r5"),
    }


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Operations per CPU-second of this process over about ``seconds``.

    CPU time (``process_time``), not wall time: the machine is shared, and another process's load should
    not count against the code measured here.
    """
    n = 1
    while True:  # calibrate a batch that takes ~10 ms
        t = time.process_time()
        for _ in range(n):
            fn()
        if time.process_time() - t > 0.01:
            break
        n *= 2
    count = 0
    start = time.process_time()
    while time.process_time() - start < seconds:
        for _ in range(n):
            fn()
        count += n
    return count / (time.process_time() - start)


def interleaved(
    fns: dict[str, Callable[[], object]], seconds: float, rounds: int = 7
) -> dict[str, list[float]]:
    """Rates of several functions measured in alternating rounds, so drifting load hits them alike."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            out[name].append(rate(fn, seconds / rounds))
    return out


def jws_parts(token: str) -> tuple[bytes, bytes]:
    _, _, signing_input, signature = decode_jws_unverified(token)
    return signing_input, signature


def bench(issuer_alg: str, holder_alg: str, seconds: float) -> None:
    issuer = generate_signing_key(issuer_alg)
    holder = generate_signing_key(holder_alg)
    ivk = verifying_key(issuer)
    claims = netcert_claims(public_jwk(holder))
    issued = issue_sd_jwt(claims, issuer)
    assert len(issued.disclosures) == 12

    def present() -> str:
        return present_sd_jwt(
            issued.serialized,
            disclose=[("age_over_18",), ("region_province",)],
            holder_key=holder,
            aud=AUD,
            nonce=NONCE,
            iat=NOW,
        )

    presentation = present()

    def verify() -> object:
        return verify_sd_jwt(presentation, issuer_key=lambda h, p: ivk, audience=AUD, nonce=NONCE, now=NOW)

    assert verify().payload["age_over_18"] is True  # type: ignore[attr-defined]

    # Raw signature operations on the very tokens of this presentation, through the same fast path.
    parts = split_sd_jwt(presentation)
    assert parts.kb_jwt is not None
    issuer_input, issuer_sig = jws_parts(parts.issuer_jwt)
    kb_input, kb_sig = jws_parts(parts.kb_jwt)
    hvk = verifying_key(holder)
    kb_claims = decode_jws_unverified(parts.kb_jwt)[1]
    signer = LocalSigner(issuer)  # kept, as an issuer keeps it: the batch path and its raw figure
    batch = [claims] * BATCH  # the same claims, fresh salts for each credential

    r = interleaved(
        {
            "issue": lambda: issue_sd_jwt(claims, issuer),
            "issue_batch": lambda: issue_sd_jwt_batch(batch, signer),
            "raw_signer_sign": lambda: signer.sign(issuer_input),
            "present": present,
            "verify": verify,
            "raw_issuer_sign": lambda: sign_jws(issued.payload, issuer, typ="dc+sd-jwt"),
            "raw_holder_sign": lambda: sign_jws(kb_claims, holder, typ="kb+jwt"),
            "raw_issuer_verify": lambda: ivk.verify(issuer_input, issuer_sig),
            "raw_holder_verify": lambda: hvk.verify(kb_input, kb_sig),
            "raw_both_verify": lambda: (ivk.verify(issuer_input, issuer_sig), hvk.verify(kb_input, kb_sig)),
        },
        seconds * 8,
    )
    med = {name: statistics.median(v) for name, v in r.items()}
    # Ratio per round, then the median: both sides of each ratio saw the same load.
    ratio = statistics.median(v / b for v, b in zip(r["verify"], r["raw_both_verify"], strict=True))
    batch_ratio = statistics.median(
        BATCH * v / b for v, b in zip(r["issue_batch"], r["raw_signer_sign"], strict=True)
    )
    m = med
    overhead = 1e6 / m["verify"] - 1e6 / m["raw_both_verify"]
    lines = [
        f"issuer {issuer_alg}, holder {holder_alg}: {len(presentation)}-char presentation, 2 of 12 disclosed",
        f"  raw issuer sign   {m['raw_issuer_sign']:8.0f}/s   verify {m['raw_issuer_verify']:8.0f}/s",
        f"  raw holder sign   {m['raw_holder_sign']:8.0f}/s   verify {m['raw_holder_verify']:8.0f}/s",
        f"  issue             {m['issue']:8.0f}/s   {m['issue'] / m['raw_issuer_sign']:5.2f} x raw sign",
        f"  issue, batches of {BATCH} {BATCH * m['issue_batch']:6.0f}/s   {batch_ratio:5.2f} x raw sign by "
        f"the same kept signer ({m['raw_signer_sign']:.0f}/s)",
        f"  present (+KB-JWT) {m['present']:8.0f}/s   {m['present'] / m['raw_holder_sign']:5.2f} x raw sign",
        f"  verify            {m['verify']:8.0f}/s   {ratio:5.2f} x raw (issuer + holder) verify"
        f" ({m['raw_both_verify']:.0f}/s); overhead {overhead:.0f} µs per presentation",
    ]
    print("\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per figure")
    args = parser.parse_args()
    for issuer_alg, holder_alg in (("EdDSA", "ES256"), ("EdDSA", "EdDSA"), ("ES256", "ES256")):
        bench(issuer_alg, holder_alg, args.seconds)


if __name__ == "__main__":
    main()
