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

Run: ``.venv/bin/python bench/wallet.py [ENROLLMENTS]`` (default 3). The presentation half (presentations
per second from the store) is added next to this one.
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

from netid.testing.cards import make_card  # noqa: E402
from netid.testing.world import TestWorld  # noqa: E402
from netid.wallet.session import WalletSession  # noqa: E402
from netid.wallet.store import DEFAULT_KDF, MINIMUM_KDF, KdfParams, WalletStore, _derive  # noqa: E402
from tests.issuer.conftest import card_reader, start_live_issuer, stop_live_issuer  # noqa: E402

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


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("wallet store (Argon2id, AES-256-GCM, atomic writes):")
        bench_open(folder, DEFAULT_KDF, "default")
        bench_open(folder, MINIMUM_KDF, "minimum")
        bench_save(folder)
        print("enrollment with a simulated card against a local issuer:")
        bench_enrollment(folder, count)


if __name__ == "__main__":
    main()
