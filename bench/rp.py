"""Verified sign-ins per second through the RP's HTTP endpoint, against the same work without HTTP.

The RP is :class:`netid.verifier.http.RelyingParty` mounted with :func:`netid_router` in a minimal FastAPI
app on **one uvicorn worker** (``127.0.0.1``, no access log; httptools, the ``rp`` extra's parser, when
installed, else h11). Every request is a wallet's
``direct_post`` (or ``direct_post.jwt``) to its transaction's own response URI: the endpoint reads and
parses the form, finds the transaction, checks its state, verifies the presentation with every check
on (issuer signature, P-256 KB-JWT, disclosures, DCQL values, the status list — cached, as it is between
refreshes — the replay cache) and moves the transaction to ``answered`` with its answers.

The presentations are built before the clock starts (a test world's issuer mints, its wallet presents,
one fresh transaction each). The load comes from **another process** over loopback: a small asyncio
HTTP/1.1 client on keep-alive connections (``--connections`` of them, each sending its next request when
the last one is answered), light enough that the server, not the client, is what is measured. Both share
the machine's cores. Latency is per request, from the first byte written to the last byte read.

"in process" is the same work without HTTP in the same run: ``rp.receive(form, tx_id=…)`` on the same
kind of pre-built forms (parse, look up, verify, update the transaction), one thread; "verifier only" is
``Verifier.verify`` alone. ``ratio`` = HTTP rate / in-process rate.

The server's CPU per sign-in is measured too (this process runs only the server thread meanwhile), so
the figures can be read apart from whatever else the machine is doing.

Figures on this machine (2 cores shared with other jobs, load average ~2; N = 3000, 8 connections):

==========================================  ==================  ==================  ===================
                                            ``direct_post``     ``direct_post``     ``direct_post.jwt``
uvicorn's HTTP parser                       httptools           h11                 httptools
==========================================  ==================  ==================  ===================
over HTTP, verified sign-ins/s              1,653               1,422               756
p50 / p99 latency                           4.9 / 8.2 ms        5.5 / 9.3 ms        8.5 / 26.6 ms
server CPU per sign-in                      533 µs              664 µs              1,061 µs
in process (``rp.receive``), per second     4,221               4,463               1,475
ratio HTTP / in process (wall; CPU)         0.39; 0.44          0.32; 0.34          0.51; 0.64
==========================================  ==================  ==================  ===================

A later run (2026-11-30, a quieter machine, after the decryption shortcuts in ``netid.credentials.jwe``):
``direct_post`` 2,006/s, p99 5.1 ms, ratio 0.48; ``direct_post.jwt`` 1,015/s, p99 9.5 ms, ratio 0.57.

The target (>= 1,000 sign-ins/s with p99 <= 50 ms) holds for ``direct_post`` with either parser; under
heavier load from other jobs (load average ~5) h11 fell to ~730/s while httptools kept ~1,400/s. About
230 µs of each sign-in is verification; FastAPI, Starlette and the HTTP server add ~300 µs, which is why
the ratio stays below 0.6. Decrypting a ``direct_post.jwt`` response (jwcrypto's JWE, ~370 µs) costs more
than verifying it.

Run: ``.venv/bin/python bench/rp.py [N] [--connections C] [--mode direct_post|direct_post.jwt]
[--http auto|h11|httptools]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from netid.credentials.jose import public_jwk
from netid.issuance import RpRegistration, issue_rp_certificate
from netid.testing.world import TestWorld, fixed_key
from netid.verifier import Query
from netid.verifier.http import RelyingParty, netid_router

WARMUP = 100


# --- the load generator (runs in its own process) ------------------------------------------------------


@dataclass
class Load:
    """Pre-encoded requests, handed out in order to the connections, and what came back."""

    requests: list[bytes]
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    cursor: int = 0

    def next(self) -> bytes | None:
        if self.cursor >= len(self.requests):
            return None
        self.cursor += 1  # one event loop: no lock needed
        return self.requests[self.cursor - 1]


async def _connection(port: int, load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (request := load.next()) is not None:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - started)
            load.statuses.append(int(head.split(b" ", 2)[1]))
    finally:
        writer.close()


async def _run_load(port: int, load: Load, connections: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, load) for _ in range(connections)))
    return time.perf_counter() - started


def load_main(path: str, port: int, connections: int) -> None:
    """``bench/rp.py --load FILE PORT C``: send every request of FILE over C connections; print timings."""
    load = Load([r.encode("latin-1") for r in json.loads(Path(path).read_text())])
    wall = asyncio.run(_run_load(port, load, connections))
    print(json.dumps({"wall": wall, "latencies": load.latencies, "statuses": load.statuses}))


def http_request(port: int, path: str, form: dict[str, str]) -> str:
    body = urllib.parse.urlencode(form)
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )


# --- the RP (this process) ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(n: int, port: int, mode: str) -> tuple[RelyingParty, list[tuple[str, dict[str, str]]]]:
    """The RP and ``n`` pre-built (transaction id, form) pairs, each for its own fresh transaction."""
    world = TestWorld.create(credentials=0)
    base = f"http://127.0.0.1:{port}"
    registration = RpRegistration(
        rp_id="shop.example",
        name="Example Shop",
        sector="shop.example",
        allowed_predicates=("age_over",),
        purposes=("age check",),
        response_uris=(f"{base}/netid/response/",),
        request_jwk=public_jwk(world.rp_key),
        allow_loopback_http=True,
    )
    world.rp_cert = issue_rp_certificate(world.profile, registration, now=world.clock() - 10)
    world.wallet.allow_loopback_http = True  # the RP is on 127.0.0.1 over http: development mode
    rp = RelyingParty(
        base_url=base,
        signing_key=world.rp_key,
        certificate=world.rp_cert,
        verifier=world.verifier,
        encryption_key=fixed_key("ES256", "bench-rp-encryption"),  # type: ignore[arg-type]  # P-256
        clock=world.clock,
        rng=world.rng,
    )
    query = Query(purpose="age check", age_over=18)
    pairs: list[tuple[str, dict[str, str]]] = []
    while len(pairs) < n:
        count = min(250, n - len(pairs))
        world.mint(count)
        for tx in [rp.start(query, response_mode=mode) for _ in range(count)]:
            response = world.wallet.present(
                tx.request.request_object, now=world.clock(), consent=lambda p: True, amr="pin"
            )
            pairs.append((tx.id, response.form()))
        world.wallet.credentials = world.wallet.unused()  # keep the wallet's search short
    return rp, pairs


def serve(rp: RelyingParty, port: int, http: str) -> tuple[uvicorn.Server, threading.Thread]:
    """One uvicorn worker (a thread of this process) serving the RP's router."""
    app = FastAPI()
    app.include_router(netid_router(rp))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        http=http,
        loop="asyncio",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_in_process(rp: RelyingParty, pairs: list[tuple[str, dict[str, str]]]) -> tuple[float, float]:
    """(sign-ins per second, CPU seconds per sign-in) of ``rp.receive`` alone, after a warm-up."""
    for tx_id, form in pairs[:WARMUP]:
        rp.receive(form, tx_id=tx_id)
    t0, c0 = time.perf_counter(), time.process_time()
    for tx_id, form in pairs[WARMUP:]:
        rp.receive(form, tx_id=tx_id)
    n = len(pairs) - WARMUP
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n


def measure_verifier(port: int) -> float:
    """Verifications per second of ``Verifier.verify`` alone (direct_post vp_tokens, fresh requests)."""
    rp, pairs = build(1000, port, "direct_post")
    jobs = []
    for tx_id, form in pairs:
        tx = rp.transaction(tx_id)
        assert tx is not None
        jobs.append((tx.request, form["vp_token"]))
    t0 = time.perf_counter()
    for request, vp_token in jobs:
        rp.verifier.verify(vp_token, request)
    return len(jobs) / (time.perf_counter() - t0)


def measure_http(
    rp: RelyingParty, pairs: list[tuple[str, dict[str, str]]], port: int, http: str, connections: int
) -> tuple[dict[str, Any], float]:
    """The load generator's timings and the server's CPU seconds per request, over HTTP."""
    server, thread = serve(rp, port, http)
    requests = [http_request(port, f"/netid/response/{tx_id}", form) for tx_id, form in pairs]
    n = len(pairs) - WARMUP
    try:
        with tempfile.TemporaryDirectory() as tmp:
            warm_file, run_file = Path(tmp) / "warm.json", Path(tmp) / "run.json"
            warm_file.write_text(json.dumps(requests[:WARMUP]))
            run_file.write_text(json.dumps(requests[WARMUP:]))
            load = [sys.executable, __file__, "--load"]
            subprocess.run([*load, str(warm_file), str(port), "2"], check=True, capture_output=True)
            c0 = time.process_time()  # this process runs only the server thread meanwhile
            out = subprocess.run(
                [*load, str(run_file), str(port), str(connections)],
                capture_output=True,
                text=True,
                check=True,
            )
            server_cpu = (time.process_time() - c0) / n
    finally:
        server.should_exit = True
        thread.join()
    return json.loads(out.stdout), server_cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--mode", default="direct_post", choices=("direct_post", "direct_post.jwt"))
    parser.add_argument(
        "--http",
        default="auto",
        choices=("auto", "h11", "httptools"),
        help="uvicorn's HTTP parser (auto: httptools if installed, else h11)",
    )
    parser.add_argument("--load", nargs=3, metavar=("FILE", "PORT", "CONNECTIONS"))
    args = parser.parse_args()
    if args.load:
        load_main(args.load[0], int(args.load[1]), int(args.load[2]))
        return
    http = args.http
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"

    port = free_port()
    print(f"building {2 * (args.n + WARMUP)} presentations ({args.mode}) …", flush=True)
    rp, pairs = build(2 * (args.n + WARMUP), port, args.mode)
    over_http, in_process = pairs[: args.n + WARMUP], pairs[args.n + WARMUP :]

    inproc_rate, inproc_cpu = measure_in_process(rp, in_process)
    answers = [rp.result(tx_id) for tx_id, _ in in_process]
    assert all(r is not None and r.answers is not None and r.answers["age_over_18"] for r in answers)
    verifier_rate = measure_verifier(port) if args.mode == "direct_post" else None
    timing, server_cpu = measure_http(rp, over_http, port, http, args.connections)

    latencies = timing["latencies"]
    ok = sum(1 for s in timing["statuses"] if s == 200)
    answered = 0
    for tx_id, _ in over_http[WARMUP:]:
        result = rp.result(tx_id)
        answered += result is not None and result.answers is not None
    http_rate = len(latencies) / timing["wall"]
    p50, p99 = percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3
    lines = [
        f"over HTTP ({args.mode}; 1 uvicorn worker, {http}; {args.connections} connections from another "
        "process):",
        f"  {http_rate:,.0f} verified sign-ins/s   p50 {p50:.1f} ms   p99 {p99:.1f} ms   "
        f"({ok}/{len(latencies)} answered 200; {answered} transactions answered)",
        f"  server CPU {server_cpu * 1e6:.0f} µs per sign-in = {1 / server_cpu:,.0f}/s on a core of its own",
        f"in process (rp.receive, no HTTP): {inproc_rate:,.0f} sign-ins/s ({1e6 / inproc_rate:.0f} µs each; "
        f"CPU {inproc_cpu * 1e6:.0f} µs)",
    ]
    if verifier_rate is not None:
        lines.append(
            f"verifier only (Verifier.verify): {verifier_rate:,.0f}/s ({1e6 / verifier_rate:.0f} µs each)"
        )
    lines += [
        f"ratio HTTP / in process: {http_rate / inproc_rate:.2f} (wall), {inproc_cpu / server_cpu:.2f} (CPU)",
        "target: >= 1,000 sign-ins/s with p99 <= 50 ms, or a ratio >= 0.6",
        f"mean latency {statistics.fmean(latencies) * 1e3:.1f} ms; {os.cpu_count()} cores shared by server, "
        "load and anything else running",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
