"""The wallet on disk under test: stores with the minimum Argon2id cost (the tests open them often), the
issuer in process (tests/issuer/conftest.py's helpers, on a clock the test moves) and as a live server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from issuer_service.main import build_context, create_app
from netid.testing.world import NOW, TestClock
from netid.wallet.store import MINIMUM_KDF, WalletStore
from tests.issuer.conftest import (
    InProcessIssuer,
    LiveIssuer,
    settings_for,
    start_live_issuer,
    stop_live_issuer,
)

PIN = "246810"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def wallet_path(tmp_path: Path) -> Path:
    return tmp_path / "holder" / "wallet.json"


def new_store(path: Path, pin: str = PIN, **kw: object) -> tuple[WalletStore, str]:
    """A fresh store at the minimum key-derivation cost (what the store still accepts)."""
    return WalletStore.create(path, pin, kdf=MINIMUM_KDF, **kw)  # type: ignore[arg-type]


@pytest.fixture
def in_process_issuer(tmp_path: Path) -> Iterator[InProcessIssuer]:
    """The issuer app in process on a TestClock (tests/issuer/conftest.py's ``issuer`` fixture)."""
    settings = settings_for(tmp_path / "issuer")
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock)
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as client:
        yield InProcessIssuer(client, settings, clock, tmp_path / "issuer")


@pytest.fixture(scope="module")
def live_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIssuer]:
    """A real uvicorn issuer on 127.0.0.1 (shared by a module's tests)."""
    live = start_live_issuer(tmp_path_factory.mktemp("live-issuer"))
    try:
        yield live
    finally:
        stop_live_issuer(live)


def run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python process (``sys.argv[1:]`` = ``args``): for crash tests, which end
    that process with ``os._exit`` at a chosen point of a write."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
