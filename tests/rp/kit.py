"""Test-only helpers for the relying party over HTTP: a test world whose RP registered a per-transaction
response-URI prefix, its :class:`RelyingParty`, the FastAPI app that mounts the router, and the world's
wallet answering through it. Every key here is a TEST key derived from a fixed seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from netid.testing.world import TestWorld, fixed_key
from netid.verifier import Query
from netid.verifier.http import RelyingParty, TransactionStore, netid_router
from netid.wallet import PresentationResponse
from tests.verifier.kit import register_rp

__all__ = ["AGE", "BASE", "PREFIX_URI", "RpWorld", "answer", "make_rp_world"]

BASE = "https://shop.example"
#: the response-URI prefix the RP registers: one path segment (the transaction id) per transaction
PREFIX_URI = f"{BASE}/netid/response/"
AGE = Query(purpose="age check", age_over=18)
#: TEST ONLY: the RP's response-encryption key (P-256)
ENCRYPTION_KEY = fixed_key("ES256", "rp-shop-encryption")


@dataclass
class RpWorld:
    """A test world, its RP over HTTP and a TestClient for the app mounting the RP's router."""

    __test__ = False

    world: TestWorld
    rp: RelyingParty
    client: TestClient

    def fetch(self, uri: str) -> str:
        """The wallet's ``request_uri`` fetch, through the app."""
        return self.client.get(uri).raise_for_status().text

    def post(self, uri: str, form: dict[str, str]) -> httpx.Response:
        return self.client.post(uri, data=form)


def make_rp_world(
    *,
    encrypted: bool = True,
    response_uris: tuple[str, ...] = (PREFIX_URI,),
    store: TransactionStore | None = None,
    age: int = 36,
    credentials: int = 4,
    **rp_options: Any,
) -> RpWorld:
    """A world whose RP registered ``response_uris`` and serves its router in a TestClient."""
    world = TestWorld.create(age=age, credentials=credentials)
    world.rp_cert = register_rp(
        world,
        "shop.example",
        world.rp_key,
        scopes=("age_over", "doc_valid", "name_equals", "subject"),
        purposes=("age check", "sign in"),
        response_uris=response_uris,
    )
    rp = RelyingParty(
        base_url=BASE,
        signing_key=world.rp_key,
        certificate=world.rp_cert,
        encryption_key=ENCRYPTION_KEY if encrypted else None,
        verifier=world.verifier,
        store=store,
        clock=world.clock,
        rng=world.rng,
        **rp_options,
    )
    app = FastAPI()
    app.include_router(netid_router(rp))
    return RpWorld(world, rp, TestClient(app, base_url=BASE))


def answer(w: RpWorld, qr_text: str) -> PresentationResponse:
    """The world's wallet answers the request behind ``qr_text`` (fetched by request_uri through the app)."""
    return w.world.wallet.present(
        qr_text, now=w.world.clock(), consent=lambda prompt: True, amr="pin", fetch=w.fetch
    )
