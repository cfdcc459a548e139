"""The shop over a test world: its issuer, its wallet and its clock stand in for the real ones, and the
customer's browser is a TestClient keeping cookies. Every key here is a TEST key."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from netid.credentials.status_source import CachedStatusLists
from netid.testing.world import TestWorld, fixed_key
from netid.verifier import CounterVerifier
from netid.verifier.http import RelyingParty, TransactionStore
from netid.wallet import PresentationResponse
from relying_party_example import ShopServices, ShopSettings, create_app
from relying_party_example.register import PURPOSES, SHOP_PREDICATES, response_uri_prefix
from relying_party_example.services import Counter
from tests.verifier.kit import register_rp

__all__ = ["BASE", "Shop", "make_shop", "request_uri_of"]

BASE = "https://shop.example"
#: TEST ONLY: the shop's response-encryption key
ENCRYPTION_KEY = fixed_key("ES256", "example-shop-encryption")
SECRET = b"TEST ONLY session secret of the example shop"


def request_uri_of(page: str, element: str = "qr") -> str:
    """The ``openid4vp://`` link of the check page: behind the QR code (``qr``) or the same-device link."""
    pattern = r'id="qr" data-request-uri="([^"]+)"' if element == "qr" else r'id="same-device" href="([^"]+)"'
    found = re.search(pattern, page)
    assert found, f"no {element} link on the page"
    return html.unescape(found[1])


@dataclass
class Shop:
    """The shop app over ``world``, and the customer's browser (:attr:`browser`)."""

    world: TestWorld
    app: FastAPI
    services: ShopServices
    browser: TestClient
    posted: list[dict[str, str]] = field(default_factory=list)

    def new_browser(self) -> TestClient:
        """Another browser: its own cookies."""
        return TestClient(self.app, base_url=BASE, follow_redirects=False)

    def fetch(self, uri: str) -> str:
        """The wallet's request_uri fetch (the wallet has no cookies: a client of its own)."""
        text: str = self.new_browser().get(uri).raise_for_status().text
        return text

    def present(self, qr_text: str, **kw: Any) -> PresentationResponse:
        """The world's wallet answers the request behind ``qr_text`` (consenting)."""
        return self.world.wallet.present(
            qr_text, now=self.world.clock(), consent=lambda prompt: True, amr="pin", fetch=self.fetch, **kw
        )

    def post(self, response: PresentationResponse, form: dict[str, str] | None = None) -> httpx.Response:
        """The wallet posts its answer (``form``: another one, e.g. a replay) to the response URI."""
        body = form if form is not None else response.form()
        self.posted.append(body)
        posted: httpx.Response = self.new_browser().post(response.response_uri, data=body)
        return posted

    def answer(self, qr_text: str) -> PresentationResponse:
        response = self.present(qr_text)
        posted = self.post(response)
        assert posted.status_code == 200, posted.text
        return response

    def start(self, path: str, browser: TestClient | None = None, **form: str) -> str:
        """POST ``path`` (a button) in ``browser``; return the check page it leads to."""
        client = browser or self.browser
        started = client.post(path, data=form or None)
        assert started.status_code == 303 and started.headers["location"] == "/check", started.text
        page = client.get("/check")
        assert page.status_code == 200, page.text
        text: str = page.text
        return text

    def session(self, browser: TestClient | None = None) -> dict[str, Any]:
        body: dict[str, Any] = (browser or self.browser).get("/api/session").json()
        return body


def make_shop(
    *,
    age: int = 36,
    anonymous: int = 6,
    scoped: int = 3,
    request_ttl: int = 300,
    telemetry: Mapping[str, Any] | None = None,
    store: TransactionStore | None = None,
) -> Shop:
    """A shop registered with the world's issuer for per-transaction response URIs under :data:`BASE`; the
    world's wallet holds ``anonymous`` and ``scoped`` (for the shop's sector) netcerts for a test person
    of ``age``. ``telemetry``: FastAPI's OpenTelemetry configuration for the shop's app; ``store``: its
    transaction store (default: in memory)."""
    world = TestWorld.create(age=age, credentials=anonymous)
    if scoped:
        world.mint(scoped, kind="rp")
    certificate = register_rp(
        world,
        world.sector,
        world.rp_key,
        scopes=SHOP_PREDICATES,
        purposes=tuple(dict.fromkeys(PURPOSES.values())),
        response_uris=(response_uri_prefix(BASE),),
    )
    rp = RelyingParty(
        base_url=BASE,
        signing_key=world.rp_key,
        certificate=certificate,
        encryption_key=ENCRYPTION_KEY,  # type: ignore[arg-type]  # a P-256 key
        verifier=world.verifier,
        clock=world.clock,
        rng=world.rng,
        request_ttl=request_ttl,
        store=store,
    )
    counter = Counter(
        signing_key=world.rp_key,
        certificate=certificate,
        verifier=CounterVerifier(
            world.trust,
            status=CachedStatusLists(world.fetch_status, world.trust, clock=world.clock),
            clock=world.clock,
        ),
        counter_id="desk-1",
        clock=world.clock,
        rng=world.rng,
    )
    services = ShopServices(rp=rp, counter=counter, rp_id=world.sector, issuer_url=world.profile.issuer,
                            clock=world.clock)  # fmt: skip
    settings = ShopSettings(rp_file=Path("not-read.json"), session_secret=SECRET, request_ttl=request_ttl)
    app = create_app(settings, services=services, telemetry=telemetry)
    return Shop(world, app, services, TestClient(app, base_url=BASE, follow_redirects=False))
