"""Test-only helpers for presenting over HTTP: a wallet on disk enrolled with an issuer, relying parties
(the honest one of netid.verifier.http, and a malicious one serving whatever request objects a test
crafts), and one "network" joining them — in process (a transport routing each host to its app) or real
(uvicorn on 127.0.0.1). Every key here is a TEST key derived from a fixed seed."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.testclient import TestClient

from issuer_service.main import build_context, create_app
from netid.credentials.jose import SigningKey, decode_jws_unverified, public_jwk, sign_jws
from netid.errors import PresentationError, WalletRefusal
from netid.oid4vp.dcql import age_predicate, build_dcql, name_predicate
from netid.oid4vp.request import REQUEST_TYP
from netid.policy import DEFAULT_POLICY
from netid.testing.cards import TestCard, make_card
from netid.testing.world import NOW, TestClock, fixed_key
from netid.verifier import Query, Verifier, build_request
from netid.verifier.http import RelyingParty, netid_router
from netid.wallet.http import PresentationOutcome, present_uri
from netid.wallet.session import RefreshPolicy, WalletSession
from netid.wallet.store import MINIMUM_KDF
from tests.issuer.conftest import ADMIN_TOKENS, CARD_TODAY, card_reader, free_port, rp_verifier, settings_for
from tests.wallet.conftest import PIN

__all__ = [
    "AGE",
    "MALICIOUS",
    "REQUEST_MEDIA",
    "EvilRp",
    "HonestRp",
    "LiveServer",
    "Recorder",
    "Router",
    "Stack",
    "WalletClock",
    "assert_refused",
    "evil_request",
    "honest_rp",
    "inprocess_stack",
    "live_stack",
    "refuse_expired_rp_certificate",
    "refuse_replayed_request",
    "refuse_revoked_rp",
    "refuse_unsigned_and_oversized",
    "request_uri_for",
]

AGE = Query(purpose="age check", age_over=18)
REQUEST_MEDIA = f"application/{REQUEST_TYP}"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKENS['alice']}"}
#: small batches, so the tests see refreshes
POLICY = RefreshPolicy(low_water=2, batch_size=4, rp_batch_size=2)


class WalletClock:
    """The wallet's clock: ``base`` (the issuer's test clock, or real time) plus an offset the test sets."""

    def __init__(self, base: Callable[[], int]) -> None:
        self.base = base
        self.offset = 0

    def __call__(self) -> int:
        return self.base() + self.offset


class Router(httpx.BaseTransport):
    """The in-process network: each request goes to the app mounted for its host (``host[:port]``), through
    that app's TestClient transport; an unknown host refuses the connection. ``down`` hosts too."""

    def __init__(self) -> None:
        self.clients: dict[str, TestClient] = {}
        self.down: set[str] = set()
        self.seen: list[tuple[str, str]] = []

    def mount(self, host: str, client: TestClient) -> None:
        self.clients[host] = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.netloc.decode("ascii")
        self.seen.append((request.method, str(request.url)))
        client = self.clients.get(host)
        if client is None or host in self.down:
            raise httpx.ConnectError(f"connection refused: {host}", request=request)
        return client._transport.handle_request(request)  # type: ignore[attr-defined]


@dataclass
class Seen:
    """One request an app received: method, path, headers (lower-case names) and body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytearray


class Recorder:
    """ASGI middleware that records every request the app received (what "the RP's server got")."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[Seen] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        # recorded before the app answers (a live server's client may look as soon as it has the answer)
        seen = Seen(scope["method"], scope["path"], headers, bytearray())
        self.seen.append(seen)

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                seen.body.extend(message.get("body", b""))
            return message

        await self.app(scope, recording_receive, send)

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]


class LiveServer:
    """An ASGI app served by uvicorn in a thread on a free loopback port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


@dataclass
class Stack:
    """An issuer, the wallet's HTTP client, and a way to put relying parties on the "network".

    ``mount(app, name)`` serves an ASGI app and returns its base URL: ``https://<name>`` in process,
    ``http://127.0.0.1:<port>`` live (then the wallet runs in its development mode: ``loopback``).
    """

    issuer_url: str
    http: httpx.Client
    issuer_client: httpx.Client
    clock: Callable[[], int]
    today: dt.date
    mount: Callable[[Any, str], str]
    loopback: bool
    tmp: Path
    router: Router | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.issuer_client.request(method, f"{self.issuer_url}{path}", json=body, headers=ADMIN)

    def register_rp(
        self,
        rp_id: str,
        base: str,
        key: SigningKey,
        *,
        predicates: tuple[str, ...] = ("age_over_18", "doc_valid", "name_equals", "subject"),
        purposes: tuple[str, ...] = ("age check", "sign in"),
        name: str | None = None,
    ) -> str:
        """Register an RP over the admin API (one response URI per transaction); its certificate."""
        body = {
            "rp_id": rp_id,
            "name": name or f"{rp_id} 商城",
            "sector": rp_id,
            "allowed_predicates": list(predicates),
            "purposes": list(purposes),
            "response_uris": [f"{base}/netid/response/"],
            "request_jwk": public_jwk(key),
            "processor": f"{rp_id} Co., Ltd.",
            "contact": f"privacy@{rp_id}",
            "retention": "30 days",
        }
        response = self.admin("POST", "/admin/rps", body)
        assert response.status_code == 201, response.text
        certificate: str = response.json()["certificate"]
        return certificate

    def verifier(self) -> Verifier:
        return rp_verifier(self.issuer_client, self.issuer_url, self.clock)

    def card(self, seed: int, **kw: Any) -> TestCard:
        return make_card(seed, today=self.today, **kw)

    def wallet(self, name: str, card: TestCard, *, batch: int = 4, **kw: Any) -> WalletSession:
        """A new wallet file enrolled with ``card`` (minimum Argon2id cost), on its own WalletClock."""
        session, _ = WalletSession.create(
            self.tmp / f"{name}.json",
            PIN,
            kdf=MINIMUM_KDF,
            clock=WalletClock(self.clock),
            refresh_policy=POLICY,
        )
        session.enroll(
            card_reader(card), card.access_key, self.issuer_url, http=self.http, batch_size=batch, **kw
        )
        self.cleanups.append(session.close)
        return session

    def present(self, session: WalletSession, uri: str, **kw: Any) -> PresentationOutcome:
        kw.setdefault("consent", lambda prompt: True)
        return present_uri(session, uri, http=self.http, allow_loopback_http=self.loopback, **kw)


@dataclass
class HonestRp:
    """netid.verifier.http's RelyingParty behind netid_router, its server's recorder and base URL."""

    rp: RelyingParty
    recorder: Recorder
    base: str
    encryption_key: Any


def honest_rp(stack: Stack, rp_id: str, **register: Any) -> HonestRp:
    key = fixed_key("ES256", f"http-kit-rp|{rp_id}")
    encryption_key = fixed_key("ES256", f"http-kit-rp-encryption|{rp_id}")
    app = FastAPI()
    recorder = Recorder(app)
    base = stack.mount(recorder, rp_id)
    certificate = stack.register_rp(rp_id, base, key, **register)
    rp = RelyingParty(
        base_url=base,
        signing_key=key,
        certificate=certificate,
        encryption_key=encryption_key,  # type: ignore[arg-type]  # a P-256 key
        verifier=stack.verifier(),
        clock=stack.clock,
    )
    app.include_router(netid_router(rp))
    return HonestRp(rp, recorder, base, encryption_key)


class EvilRp:
    """A registered RP gone bad: serves any request object a test crafts at ``/evil/<name>`` and records
    every response posted to ``/netid/response/<tx>`` (so a test sees whether anything was disclosed)."""

    def __init__(self, stack: Stack, rp_id: str = "evil.example", **register: Any) -> None:
        self.key = fixed_key("ES256", f"http-kit-evil|{rp_id}")
        self.served: dict[str, tuple[bytes, str, bool]] = {}
        self.fetches: list[str] = []
        self.posts: list[tuple[str, bytes]] = []
        app = FastAPI()

        @app.get("/evil/{name}")
        def serve(name: str) -> Response:
            self.fetches.append(name)
            body, media_type, chunked = self.served[name]
            if chunked:  # no Content-Length: the wallet must count what streams in

                def chunks() -> Iterator[bytes]:
                    for i in range(0, len(body), 4096):
                        yield body[i : i + 4096]

                return StreamingResponse(chunks(), media_type=media_type)
            return Response(body, media_type=media_type)

        @app.post("/netid/response/{tx}")
        async def response(tx: str, request: Request) -> JSONResponse:
            self.posts.append((tx, await request.body()))
            return JSONResponse({})

        self.base = stack.mount(app, rp_id)
        self.rp_id = rp_id
        self.certificate = stack.register_rp(
            rp_id,
            self.base,
            self.key,
            **({"predicates": ("age_over_18",), "purposes": ("age check",)} | register),
        )
        self.client_id = f"verifier_attestation:{rp_id}"

    def response_uri(self, tx: str = "T" * 22) -> str:
        return f"{self.base}/netid/response/{tx}"

    def serve(
        self, name: str, body: str | bytes, *, media_type: str = REQUEST_MEDIA, chunked: bool = False
    ) -> str:
        """Serve ``body`` at ``/evil/<name>``; returns the openid4vp:// URI pointing there."""
        self.served[name] = (body.encode() if isinstance(body, str) else body, media_type, chunked)
        return request_uri_for(self.client_id, f"{self.base}/evil/{name}")


def request_uri_for(client_id: str, request_uri: str) -> str:
    return "openid4vp://?" + urllib.parse.urlencode(
        {"client_id": client_id, "request_uri": request_uri, "request_uri_method": "get"}
    )


def evil_request(
    evil: EvilRp,
    now: int,
    *,
    query: Query = AGE,
    edit: Callable[[dict[str, Any]], None] | None = None,
    sign_with: SigningKey | None = None,
    header_edit: Callable[[dict[str, Any]], None] | None = None,
    tx: str = "T" * 22,
) -> str:
    """A request object from the evil RP: valid as built, then edited and re-signed (with ``sign_with``,
    default its registered key) — an RP building its own."""
    request = build_request(
        query, rp_key=evil.key, rp_certificate=evil.certificate, response_uri=evil.response_uri(tx), now=now
    )
    if edit is None and sign_with is None and header_edit is None:
        return request.request_object
    header, claims, _, _ = decode_jws_unverified(request.request_object)
    if edit is not None:
        edit(claims)
    extra = {"jwt": header["jwt"]}
    if header_edit is not None:
        header_edit(extra)
    return sign_jws(claims, sign_with or evil.key, typ=header["typ"], extra_headers=extra)


def _outside_scope(claims: dict[str, Any]) -> None:
    claims["dcql_query"] = build_dcql([age_predicate(18), name_predicate("张三")])


#: one malicious request per refusal code: edits of a valid request, re-signed
MALICIOUS: dict[str, dict[str, Any]] = {
    # a predicate outside the certificate (it allows age_over_18 only)
    "rp_scope": {"edit": _outside_scope},
    # signed with a key that is not the certificate's
    "request_signature": {"sign_with": fixed_key("ES256", "mitm")},
    # the certificate taken out of the header: nothing says who signed it
    "rp_certificate": {"header_edit": lambda h: h.pop("jwt")},
    # the answer sent to an address the RP did not register
    "response_uri": {"edit": lambda c: c.update(response_uri="https://collector.example/netid/response/x")},
    # a purpose the RP did not register
    "purpose": {"edit": lambda c: c["netid"].update(purpose="marketing")},
    # another RP's client_id
    "client_id": {"edit": lambda c: c.update(client_id="verifier_attestation:bank.example")},
}


def assert_refused(
    stack: Stack, session: WalletSession, uri: str, code: str, *, evil: EvilRp | None = None, **kw: Any
) -> WalletRefusal:
    """The wallet refuses ``uri`` with ``code``: nothing posted, no credential used or key deleted, a
    refusal in the holder's log that discloses nothing — and the same on disk."""
    usable = {c.key_id for c in session.usable_credentials()}
    keys = session.store.key_ids()
    posts = len(evil.posts) if evil is not None else 0
    with pytest.raises(WalletRefusal) as refused:
        stack.present(session, uri, **kw)
    assert refused.value.code == code, refused.value
    assert {c.key_id for c in session.usable_credentials()} == usable
    assert session.store.key_ids() == keys
    if evil is not None:
        assert len(evil.posts) == posts  # nothing disclosed
    entry = session.log()[-1]
    assert entry.event == "refused" and entry.refusal == code and not entry.answers
    assert not entry.subject_shared and not entry.netno_shared
    return refused.value


# --- malicious-RP scenarios, run in process and over real HTTP -------------------------------------------

DAY = 86_400


def refuse_unsigned_and_oversized(stack: Stack, holder: WalletSession, tag: str = "") -> None:
    """Plain parameters, a cut signature, ``alg: none``, and request objects over the size cap (with and
    without a Content-Length, and one that never ends): each refused, nothing disclosed."""
    evil = EvilRp(stack, f"evil-unsigned{tag}.example")
    plain = "openid4vp://?" + str(
        httpx.QueryParams({"client_id": evil.client_id, "response_type": "vp_token", "nonce": "n" * 22,
                           "response_uri": evil.response_uri()})
    )  # fmt: skip
    assert_refused(stack, holder, plain, "request", evil=evil)
    header, payload, _ = evil_request(evil, stack.clock()).split(".")
    # the signature cut off, and then also "alg": "none": both unsigned, each refused at its check
    assert_refused(stack, holder, evil.serve("cut", f"{header}.{payload}."), "request_signature", evil=evil)
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    none = base64.urlsafe_b64encode(json.dumps(decoded | {"alg": "none"}).encode()).rstrip(b"=").decode()
    assert_refused(stack, holder, evil.serve("none", f"{none}.{payload}."), "algorithm", evil=evil)
    big = evil_request(evil, stack.clock(), edit=lambda c: c.update(padding="x" * 20_000))
    assert len(big) > DEFAULT_POLICY.max_request_bytes
    assert_refused(stack, holder, evil.serve("big", big), "request", evil=evil)
    assert_refused(stack, holder, evil.serve("big-chunked", big, chunked=True), "request", evil=evil)
    endless = evil.serve("endless", b"e" * 10_000_000, chunked=True)
    assert_refused(stack, holder, endless, "request", evil=evil)
    assert not evil.posts


def refuse_revoked_rp(stack: Stack, holder: WalletSession, tag: str = "") -> None:
    """Suspended, then reinstated (answered), then revoked at the issuer (its admin API): the wallet reads
    the RP's status entry in the issuer's status list each time."""
    evil = EvilRp(stack, f"evil-revoked{tag}.example")
    uri = evil.serve("valid", evil_request(evil, stack.clock()))
    assert stack.admin("POST", f"/admin/rps/{evil.rp_id}/suspend").status_code == 200
    assert_refused(stack, holder, uri, "rp_certificate", evil=evil)
    assert stack.admin("POST", f"/admin/rps/{evil.rp_id}/reinstate").status_code == 200
    stack.present(holder, uri)  # reinstated: answered (the evil RP records it)
    assert len(evil.posts) == 1
    revoked = stack.admin("POST", f"/admin/rps/{evil.rp_id}/revoke", {"reason": "key compromised"})
    assert revoked.status_code == 200, revoked.text
    uri = evil.serve("again", evil_request(evil, stack.clock(), tx="U" * 22))
    assert_refused(stack, holder, uri, "rp_certificate", evil=evil)


def refuse_expired_rp_certificate(stack: Stack, holder: WalletSession, tag: str = "") -> None:
    """The RP's certificate has expired by the wallet's clock (it lives 365 days)."""
    evil = EvilRp(stack, f"evil-expired{tag}.example")
    uri = evil.serve("valid", evil_request(evil, stack.clock()))
    clock = holder.clock
    assert isinstance(clock, WalletClock)
    clock.offset = 366 * DAY
    try:
        assert_refused(stack, holder, uri, "rp_certificate", evil=evil)
    finally:
        clock.offset = 0


def refuse_replayed_request(stack: Stack, holder: WalletSession, tag: str = "") -> None:
    """The same request object twice: the wallet refuses what it answered already; another wallet's
    answer to an answered request is refused by the RP (a transaction is answered once)."""
    evil = EvilRp(stack, f"evil-replay{tag}.example")
    token = evil_request(evil, stack.clock())
    stack.present(holder, evil.serve("once", token))
    assert len(evil.posts) == 1
    assert_refused(stack, holder, evil.serve("twice", token), "already_answered", evil=evil)

    shop = honest_rp(stack, f"replay-shop{tag}.example")
    tx = shop.rp.start(AGE)
    by_value = "openid4vp://?" + str(
        httpx.QueryParams({"client_id": tx.request.client_id, "request": tx.request.request_object})
    )
    stack.present(holder, by_value)
    other = stack.wallet(f"other{tag}", stack.card(72, age=40))
    with pytest.raises(PresentationError) as failed:
        stack.present(other, by_value)
    assert failed.value.code == "already_answered" and failed.value.status == 409 and failed.value.spent
    result = shop.rp.result(tx.id)
    assert result is not None and result.answers is not None and len(shop.recorder.posts()) == 2


# --- the two networks -------------------------------------------------------------------------------------


@contextlib.contextmanager
def inprocess_stack(tmp: Path) -> Iterator[Stack]:
    """The issuer app in process on a TestClock; relying parties mounted as ``https://<name>``."""
    settings = settings_for(tmp / "issuer")
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock)
    router = Router()
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as issuer:
        router.mount(urllib.parse.urlsplit(settings.issuer_url).netloc, issuer)
        clients: list[TestClient] = []

        def mount(app: Any, name: str) -> str:
            client = TestClient(app, base_url=f"https://{name}")
            clients.append(client)
            router.mount(name, client)
            return f"https://{name}"

        http = httpx.Client(transport=router)
        stack = Stack(settings.issuer_url, http, issuer, clock, CARD_TODAY, mount, False, tmp, router)
        try:
            yield stack
        finally:
            for cleanup in stack.cleanups:
                cleanup()
            http.close()


@contextlib.contextmanager
def live_stack(issuer_url: str, tmp: Path) -> Iterator[Stack]:
    """A live issuer; relying parties on uvicorn at ``http://127.0.0.1:<port>`` (the wallet in its
    development mode); real time."""
    servers: list[LiveServer] = []

    def mount(app: Any, name: str) -> str:
        server = LiveServer(app)
        servers.append(server)
        return server.url

    http = httpx.Client(timeout=30)
    today = dt.datetime.now(dt.UTC).date()
    stack = Stack(issuer_url, http, http, lambda: int(time.time()), today, mount, True, tmp)
    try:
        yield stack
    finally:
        for cleanup in stack.cleanups:
            cleanup()
        for server in servers:
            server.stop()
        http.close()
