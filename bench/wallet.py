"""The holder's wallet on disk: what opening it costs (Argon2id), what a write costs, and how long a whole
enrollment takes with a simulated card against a local issuer.

* **open**: :meth:`netid.wallet.store.WalletStore.open` with the default Argon2id parameters (RFC 9106's
  second recommendation: 64 MiB, 3 passes, 4 lanes) and with the minimum the store accepts (19 MiB, 2
  passes, 1 lane). An open is one derivation plus two atomic writes (the try counter is spent before the
  check, and reset after it). The derivation alone is also what one offline guess costs an attacker who
  copied the file — printed as guesses per second on this machine and the time to try every 6-digit PIN
  (a software store's limit; a secure element's counter is what stops this);
* **save**: one atomic write of a wallet holding a batch of 30 netcerts (encrypt, temporary file, fsync,
  rename, fsync the folder);
* **enrollment**: :meth:`netid.wallet.session.WalletSession.enroll` — card read with the chip signing the
  issuer's challenge (simulated card, in process), sealed evidence, OpenID4VCI token, nonce, 30 key proofs
  and the batch over real HTTP to ``python -m issuer_service serve`` on 127.0.0.1 (SQLite), and the store's
  write — split into its steps.

* **presentations, in process**: the wallet's own work for one presentation from the store —
  :func:`netid.oid4vp.request.open_request` (the RP certificate's and the request's signatures, scope),
  the credential choice and disclosure plan, the KB-JWT signature, and the store's write (credential used,
  key deleted, log entry: one atomic write) — split into those steps, with presentations per second;
  the RP's request building and the RP-status lookup (network) are not in it;
* **presentation over HTTP**: :func:`netid.wallet.http.present_uri` against a local RP (uvicorn, netid_router,
  verifying) and the local issuer (the RP's status list): fetch the request by ``request_uri``, the status
  list, the checks and the presentation, the post and the RP's verification — end to end, and the network
  part of it per exchange.

Run: ``.venv/bin/python bench/wallet.py [ENROLLMENTS [PRESENTATIONS]]`` (default 3 and 28, half in each
response mode).
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test helpers start the local issuer

from fastapi import FastAPI  # noqa: E402

from netid.credentials.jose import public_jwk  # noqa: E402
from netid.oid4vp.request import open_request  # noqa: E402
from netid.testing.cards import make_card  # noqa: E402
from netid.testing.world import TestWorld, fixed_key  # noqa: E402
from netid.verifier import Query  # noqa: E402
from netid.verifier.http import RelyingParty, netid_router  # noqa: E402
from netid.verifier.remote import verifier_for_issuer  # noqa: E402
from netid.wallet.http import present_uri  # noqa: E402
from netid.wallet.log import presentation_entry  # noqa: E402
from netid.wallet.present import disclose_and_bind, vp_token_for  # noqa: E402
from netid.wallet.session import WalletSession  # noqa: E402
from netid.wallet.store import DEFAULT_KDF, MINIMUM_KDF, KdfParams, WalletStore, _derive  # noqa: E402
from tests.issuer.conftest import ADMIN_TOKENS, card_reader, start_live_issuer, stop_live_issuer  # noqa: E402
from tests.wallet.http_kit import LiveServer  # noqa: E402

PIN = "482915"
#: what happens between two progress reports of an enrollment (and before the first, after the last)
_PHASES = (
    "GET /jwks.json",
    "POST /enrollment/start",
    "card read, AA over the challenge, seal evidence",
    "POST /enrollment/complete",
    "POST /token (+ enrollment written to the store)",
    "POST /nonce, 30 keys + proofs, POST /credential",
    "store the batch (one atomic write)",
)


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def bench_open(folder: Path, kdf: KdfParams, label: str, rounds: int = 5) -> float:
    path = folder / f"{label}.json"
    WalletStore.create(path, PIN, kdf=kdf)[0].close()
    opens, derives = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        WalletStore.open(path, PIN).close()
        opens.append(time.perf_counter() - started)
        started = time.perf_counter()
        _derive(PIN.encode(), b"0123456789abcdef", kdf)
        derives.append(time.perf_counter() - started)
    derive = statistics.median(derives)
    six_digits_days = 10**6 * derive / 86_400
    print(
        f"  open, {label:<8} ({kdf.memory_kib // 1024} MiB, t={kdf.time_cost}, p={kdf.parallelism}): "
        f"{_median_ms(opens)}   one guess {derive * 1000:6.1f} ms = {1 / derive:5.1f} guesses/s; "
        f"every 6-digit PIN: {six_digits_days:5.1f} days on this machine (one process)"
    )
    return derive


def bench_save(folder: Path, rounds: int = 10) -> None:
    store, _ = WalletStore.create(folder / "save.json", PIN, kdf=MINIMUM_KDF)
    world = TestWorld.create(credentials=0)
    with store.deferred():
        store.add_credentials(world.mint_for([store.public_jwk(store.create_key()) for _ in range(30)]))
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        store.save()
        samples.append(time.perf_counter() - started)
    size = (folder / "save.json").stat().st_size
    store.close()
    print(f"  save, 30 netcerts ({size / 1024:.0f} KiB file):      {_median_ms(samples)}")


def bench_enrollment(folder: Path, count: int) -> None:
    live = start_live_issuer(folder / "issuer")
    try:
        totals: list[float] = []
        steps: dict[str, list[float]] = {}
        with httpx.Client(timeout=60) as http:
            for i in range(count):
                card = make_card(900 + i)
                session, _ = WalletSession.create(folder / f"enroll-{i}.json", PIN, kdf=MINIMUM_KDF)
                marks: list[float] = []
                started = time.perf_counter()
                session.enroll(
                    card_reader(card), card.access_key, live.url, http=http, batch_size=30,
                    progress=lambda _step, marks=marks: marks.append(time.perf_counter()),
                )  # fmt: skip
                ended = time.perf_counter()
                totals.append(ended - started)
                session.close()
                bounds = [started, *marks, ended]
                for name, (a, b) in zip(_PHASES, itertools.pairwise(bounds), strict=True):
                    steps.setdefault(name, []).append(b - a)
        print(f"  enrollment, batch of 30, over HTTP (median of {count}): {_median_ms(totals)}")
        for name, samples in steps.items():
            print(f"    {name:<46} {_median_ms(samples)}")
    finally:
        stop_live_issuer(live)


_AGE = Query(purpose="age check", age_over=18)


def bench_presentations(folder: Path, rounds: int = 3, batch: int = 30) -> None:
    """The wallet's work per presentation, from a store holding a batch of ``batch`` netcerts."""
    world = TestWorld.create(credentials=0)
    steps: dict[str, list[float]] = {"open request": [], "plan + KB-JWT": [], "store write": []}
    totals: list[float] = []
    for r in range(rounds):
        store, _ = WalletStore.create(folder / f"present-{r}.json", PIN, kdf=MINIMUM_KDF)
        with store.deferred():
            keys = [store.public_jwk(store.create_key()) for _ in range(batch)]
            store.add_credentials(world.mint_for(keys))
        credentials = [c.credential for c in store.credentials if c.credential is not None]
        requests = [world.request(_AGE).request_object for _ in range(batch)]  # the RP's work: not timed
        now = world.clock()
        for token in requests:
            t0 = time.perf_counter()
            terms = open_request(token, trust=world.trust, now=now)
            t1 = time.perf_counter()
            with store.deferred():
                presentation, disclosed = disclose_and_bind(
                    terms, credentials, keystore=store, now=now, consent=lambda p: True, amr="pin",
                    nonce=terms.nonce, formats=terms.vp_formats,
                )  # fmt: skip
                vp_token_for(presentation, terms, disclosed)
                store.append_log(presentation_entry(terms, disclosed, None, at=now))
                t2 = time.perf_counter()
            t3 = time.perf_counter()  # the deferred block's one atomic write
            steps["open request"].append(t1 - t0)
            steps["plan + KB-JWT"].append(t2 - t1)
            steps["store write"].append(t3 - t2)
            totals.append(t3 - t0)
        store.close()
    total = statistics.median(totals)
    print(
        f"  presentations from the store (batch of {batch}, {len(totals)} in all): {_median_ms(totals)}"
        f" = {1 / total:,.0f} presentations/s (one core)"
    )
    for name, samples in steps.items():
        print(f"    {name:<46} {_median_ms(samples)}")
    without_write = statistics.median([a + b for a, b in zip(steps["open request"], steps["plan + KB-JWT"],
                                                             strict=True)])  # fmt: skip
    print(f"    (without the disk write: {1 / without_write:,.0f}/s; the write is fsync-bound)")


class _Timed(httpx.HTTPTransport):
    """The wallet's transport, timing each exchange by what it is."""

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, list[float]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        kind = (
            "GET request object (RP)" if "/netid/request/" in path
            else "POST response, RP verifies" if "/netid/response/" in path
            else "GET status list (issuer)" if path.startswith("/status/")
            else f"{request.method} {path}"
        )  # fmt: skip
        started = time.perf_counter()
        response = super().handle_request(request)
        response.read()
        self.times.setdefault(kind, []).append(time.perf_counter() - started)
        return response


def bench_presentation_http(folder: Path, count: int) -> None:
    """``present_uri`` end to end: a wallet on disk, a local RP on uvicorn, the local issuer."""
    live = start_live_issuer(folder / "issuer-present")
    server: LiveServer | None = None
    try:
        key, encryption_key = fixed_key("ES256", "bench-rp"), fixed_key("ES256", "bench-rp-encryption")
        app = FastAPI()
        server = LiveServer(app)
        body = {
            "rp_id": "bench-shop.example", "name": "Bench Shop", "sector": "bench-shop.example",
            "allowed_predicates": ["age_over_18"], "purposes": ["age check"],
            "response_uris": [f"{server.url}/netid/response/"], "request_jwk": public_jwk(key),
            "processor": "Bench Shop Ltd.", "contact": "privacy@bench-shop.example", "retention": "30 days",
        }  # fmt: skip
        admin = {"Authorization": f"Bearer {ADMIN_TOKENS['alice']}"}
        registered = httpx.post(f"{live.url}/admin/rps", json=body, headers=admin, timeout=30)
        registered.raise_for_status()
        rp = RelyingParty(
            base_url=server.url, signing_key=key, certificate=registered.json()["certificate"],
            encryption_key=encryption_key, verifier=verifier_for_issuer(live.url),  # type: ignore[arg-type]
        )  # fmt: skip
        app.include_router(netid_router(rp))
        card = make_card(950)
        session, _ = WalletSession.create(folder / "present-http.json", PIN, kdf=MINIMUM_KDF)
        transport = _Timed()
        with session, httpx.Client(transport=transport, timeout=30) as http:
            batch = min(30, count + 2)  # the issuer's batch limit: at most 28 presentations here
            session.enroll(card_reader(card), card.access_key, live.url, http=http, batch_size=batch)
            for mode in ("direct_post.jwt", "direct_post"):
                transport.times.clear()
                totals: list[float] = []
                for _ in range(min(count, batch - 2) // 2):
                    tx = rp.start(_AGE, response_mode=mode)  # type: ignore[arg-type]
                    started = time.perf_counter()
                    present_uri(session, tx.qr_text, http=http, consent=lambda p: True,
                                allow_loopback_http=True, refresh=False)  # fmt: skip
                    totals.append(time.perf_counter() - started)
                    result = rp.result(tx.id)
                    assert result is not None and result.answers is not None and result.answers["age_over_18"]
                print(f"  present_uri over HTTP, {mode:<15} (median of {len(totals)}): {_median_ms(totals)}")
                network = 0.0
                for name, samples in transport.times.items():
                    if name.startswith(("GET request", "GET status", "POST response")):
                        network += statistics.median(samples)
                        print(f"    {name:<46} {_median_ms(samples)}")
                print(f"    {'the wallet (checks, KB-JWT, store write)':<46} "
                      f"{(statistics.median(totals) - network) * 1000:8.1f} ms")  # fmt: skip
    finally:
        if server is not None:
            server.stop()
        stop_live_issuer(live)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    presentations = int(sys.argv[2]) if len(sys.argv) > 2 else 28
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("wallet store (Argon2id, AES-256-GCM, atomic writes):")
        bench_open(folder, DEFAULT_KDF, "default")
        bench_open(folder, MINIMUM_KDF, "minimum")
        bench_save(folder)
        print("enrollment with a simulated card against a local issuer:")
        bench_enrollment(folder, count)
        print("presentations (the wallet's work, in process):")
        bench_presentations(folder)
        print("presentation over HTTP (a local RP and the local issuer, 127.0.0.1):")
        bench_presentation_http(folder, presentations)


if __name__ == "__main__":
    main()
